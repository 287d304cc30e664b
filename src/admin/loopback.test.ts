import { describe, expect, it } from 'vitest';
import { isLoopbackHostHeader } from './loopback.js';

describe('isLoopbackHostHeader', () => {
  it.each([
    '127.0.0.1',
    '127.0.0.1:7778',
    '127.255.0.9:80',
    'localhost',
    'localhost:7778',
    'LOCALHOST:1',
    'localhost.',
    '[::1]:7778',
    '[::1]',
    '[0:0:0:0:0:0:0:1]:7778',
    '[::ffff:127.0.0.1]:7778',
  ])('accepts the loopback Host %j', (host) => {
    expect(isLoopbackHostHeader(host)).toBe(true);
  });

  it.each([
    'evil.example',
    'evil.example:7778',
    '127.0.0.1.evil.example',
    'localhost.evil.example',
    'evillocalhost',
    '0.0.0.0',
    '0.0.0.0:7778',
    '10.0.0.1',
    '[::]',
    '[::]:7778',
    '[::2]',
    '::1',
    '[::1',
    '',
    '127.0.0.1:',
    '127.0.0.1:99999999',
    '127.0.0.1:port',
    'a:b:c',
    '127.0.0.1:7778:7778',
  ])('refuses the Host %j', (host) => {
    expect(isLoopbackHostHeader(host)).toBe(false);
  });

  it('refuses a request that sent no Host at all', () => {
    expect(isLoopbackHostHeader(undefined)).toBe(false);
  });
});
