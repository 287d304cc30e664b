import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CollectedHeaders } from './collected-headers.js';

describe('CollectedHeaders', () => {
  it('is empty until something is set or appended', () => {
    const set = new CollectedHeaders();
    const appended = new CollectedHeaders();
    expect(set.isEmpty).toBe(true);
    expect(set.pairs()).toStrictEqual([]);
    set.set('Cache-Control', 'no-store');
    appended.append('Set-Cookie', 'a=1');
    expect(set.isEmpty).toBe(false);
    expect(appended.isEmpty).toBe(false);
  });

  it('leaves the headers as they are when nothing was collected', () => {
    const headers = { 'content-type': 'text/html', 'set-cookie': ['a=1'] };
    new CollectedHeaders().applyTo(headers);
    expect(headers).toStrictEqual({ 'content-type': 'text/html', 'set-cookie': ['a=1'] });
  });

  it('replaces the upstream value of a set header, whatever the case of its name', () => {
    const collected = new CollectedHeaders();
    collected.set('Cache-Control', 'no-store');
    collected.set('X-LAPSE-Remaining', '900');
    const headers: Record<string, string | string[]> = {
      'cache-control': 'public, max-age=3600',
      'content-type': 'text/html',
    };
    collected.applyTo(headers);
    expect(headers).toStrictEqual({
      'cache-control': 'no-store',
      'content-type': 'text/html',
      'x-lapse-remaining': '900',
    });
  });

  it('keeps the last value of a header set twice, under any case', () => {
    const collected = new CollectedHeaders();
    collected.set('Lapse-Remaining', '10');
    collected.set('lapse-remaining', '20');
    const headers: Record<string, string | string[]> = {};
    collected.applyTo(headers);
    expect(headers).toStrictEqual({ 'lapse-remaining': '20' });
    expect(collected.pairs()).toStrictEqual([['lapse-remaining', '20']]);
  });

  it('replaces an upstream Set-Cookie array when Set-Cookie is set rather than appended', () => {
    const collected = new CollectedHeaders();
    collected.set('Set-Cookie', 'mine=1');
    const headers: Record<string, string | string[]> = { 'set-cookie': ['a=1', 'b=2'] };
    collected.applyTo(headers);
    expect(headers).toStrictEqual({ 'set-cookie': 'mine=1' });
  });

  it('appends after the upstream value, as a list, whether it was absent, one value or several', () => {
    const collected = new CollectedHeaders();
    collected.append('Set-Cookie', 'lapse_sid=new; HttpOnly');
    collected.append('Vary', 'Cookie');
    collected.append('Link', '</a>; rel=preload');
    const upstreamCookies = ['a=1', 'b=2'];
    const headers: Record<string, string | string[]> = {
      'set-cookie': upstreamCookies,
      vary: 'Accept-Encoding',
    };
    collected.applyTo(headers);
    expect(headers).toStrictEqual({
      'set-cookie': ['a=1', 'b=2', 'lapse_sid=new; HttpOnly'],
      vary: ['Accept-Encoding', 'Cookie'],
      link: ['</a>; rel=preload'],
    });
    expect(upstreamCookies).toStrictEqual(['a=1', 'b=2']);
  });

  it('appends every value of a header appended several times, in order', () => {
    const collected = new CollectedHeaders();
    collected.append('set-cookie', 'one=1');
    collected.append('SET-COOKIE', 'two=2');
    const headers: Record<string, string | string[]> = { 'set-cookie': 'up=0' };
    collected.applyTo(headers);
    expect(headers['set-cookie']).toStrictEqual(['up=0', 'one=1', 'two=2']);
  });

  it('appends after a value it set itself for the same name', () => {
    const collected = new CollectedHeaders();
    collected.append('X-Trace', 'appended');
    collected.set('X-Trace', 'set');
    const headers: Record<string, string | string[]> = { 'x-trace': 'upstream' };
    collected.applyTo(headers);
    expect(headers['x-trace']).toStrictEqual(['set', 'appended']);
  });

  it('gives its headers as lower-case pairs: the set ones, then the appended ones in order', () => {
    const collected = new CollectedHeaders();
    collected.append('Set-Cookie', 'a=1');
    collected.set('Cache-Control', 'no-store');
    collected.append('Set-Cookie', 'b=2');
    collected.set('Lapse-Remaining', '60');
    expect(collected.pairs()).toStrictEqual([
      ['cache-control', 'no-store'],
      ['lapse-remaining', '60'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
  });

  it('lays its headers over an upstream response so a client gets every Set-Cookie line', async () => {
    const collected = new CollectedHeaders();
    collected.append('Set-Cookie', 'lapse_sid=abc; HttpOnly; Path=/');
    collected.set('Cache-Control', 'no-store');
    const server = createServer((_req, res) => {
      const headers: Record<string, string | string[]> = {
        'set-cookie': 'theme=dark',
        'cache-control': 'public',
        'content-type': 'text/plain',
      };
      collected.applyTo(headers);
      res.writeHead(200, headers);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await response.text();
      expect(response.headers.getSetCookie()).toStrictEqual([
        'theme=dark',
        'lapse_sid=abc; HttpOnly; Path=/',
      ]);
      expect(response.headers.get('cache-control')).toBe('no-store');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
