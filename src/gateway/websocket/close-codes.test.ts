import { describe, expect, it } from 'vitest';
import { relayableCloseCode, sessionExpiredReason } from './close-codes.js';

describe('relayableCloseCode', () => {
  it('passes on every code a close frame may carry', () => {
    for (const code of [
      1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 4401, 4999,
    ]) {
      expect(relayableCloseCode(code)).toBe(code);
    }
  });

  it('turns "no status" into a normal closure and local-only codes into an internal error', () => {
    expect(relayableCloseCode(1005)).toBe(1000);
    expect(relayableCloseCode(1006)).toBe(1011);
    expect(relayableCloseCode(1015)).toBe(1011);
    expect(relayableCloseCode(1004)).toBe(1011);
    expect(relayableCloseCode(999)).toBe(1011);
    expect(relayableCloseCode(5000)).toBe(1011);
  });
});

describe('sessionExpiredReason', () => {
  it('names the reason after session_expired:', () => {
    expect(sessionExpiredReason('idle')).toBe('session_expired:idle');
    expect(sessionExpiredReason('revoked')).toBe('session_expired:revoked');
  });
});
