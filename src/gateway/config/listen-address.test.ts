import { describe, expect, it } from 'vitest';
import {
  formatListenAddress,
  isLoopbackHost,
  type ListenAddress,
  parseListenAddress,
} from './listen-address.js';

describe('parseListenAddress', () => {
  it.each<[string, ListenAddress]>([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
    ['localhost:65535', { host: 'localhost', port: 65_535 }],
    ['gateway.internal:80', { host: 'gateway.internal', port: 80 }],
    ['[::1]:7778', { host: '::1', port: 7778 }],
    ['[::]:443', { host: '::', port: 443 }],
  ])('reads %s', (text, expected) => {
    expect(parseListenAddress(text)).toEqual(expected);
    expect(formatListenAddress(expected)).toBe(text);
  });

  it.each([
    '8080',
    '127.0.0.1',
    ':8080',
    '127.0.0.1:',
    '127.0.0.1:65536',
    '127.0.0.1:123456',
    '999.0.0.1:80',
    '::1:8080',
    '[127.0.0.1]:80',
    '[::1]',
    'host name:80',
    '-bad.example:80',
    'http://127.0.0.1:8080',
    '127.0.0.1:80x',
  ])('rejects %j', (text) => {
    expect(parseListenAddress(text)).toBeUndefined();
  });
});

describe('isLoopbackHost', () => {
  it.each([
    '127.0.0.1',
    '127.1.2.3',
    'localhost',
    'LOCALHOST',
    '::1',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
  ])('counts %s as loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each([
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '192.168.1.10',
    'gateway.internal',
    '::ffff:10.0.0.1',
    'fe80::1%eth0',
    '128.0.0.1',
  ])('counts %s as reachable from other machines', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});
