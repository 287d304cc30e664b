import { describe, expect, it } from 'vitest';
import { compilePassive, type RequestProbe } from './passive.js';

function request(method: string, path: string, headers: Record<string, string> = {}): RequestProbe {
  return { method, path, getHeader: (name) => headers[name] };
}

describe('compilePassive', () => {
  const isPassive = compilePassive([
    { methods: ['GET'], paths: ['/api/notifications/**'] },
    { headers: { 'x-lapse-passive': '1' } },
  ]);

  it('treats a request matching every key of one entry as passive', () => {
    expect(isPassive(request('GET', '/api/notifications/42'))).toBe(true);
    expect(isPassive(request('get', '/api/notifications'))).toBe(true);
  });

  it('counts a request that misses one key of the entry as activity', () => {
    expect(isPassive(request('POST', '/api/notifications/42'))).toBe(false);
    expect(isPassive(request('GET', '/api/notificationsx'))).toBe(false);
    expect(isPassive(request('GET', '/api/me'))).toBe(false);
  });

  it('matches headers by exact value', () => {
    expect(isPassive(request('POST', '/anything', { 'x-lapse-passive': '1' }))).toBe(true);
    expect(isPassive(request('POST', '/anything', { 'x-lapse-passive': '0' }))).toBe(false);
  });

  it('keeps * within one path segment', () => {
    const poll = compilePassive([{ paths: ['/api/*/poll'] }]);
    expect(poll(request('GET', '/api/a/poll'))).toBe(true);
    expect(poll(request('GET', '/api/a/b/poll'))).toBe(false);
  });

  it('treats nothing as passive without entries', () => {
    expect(compilePassive([])(request('GET', '/'))).toBe(false);
  });
});
