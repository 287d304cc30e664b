import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { relayableCloseCode, relayUpgradeAnswer, sessionExpiredReason } from './close-codes.js';

/** A socket that keeps what is written to it. */
function capture(): { socket: Duplex; written: () => string } {
  const chunks: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { socket, written: () => Buffer.concat(chunks).toString('latin1') };
}

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

describe('relayUpgradeAnswer', () => {
  it('writes a whole response with its length, and drops header values that would split it', async () => {
    const { socket, written } = capture();
    relayUpgradeAnswer(socket, 403, 'Forbidden\r\nX-Evil: 1', Buffer.from('nope'), [
      ['Content-Type', 'text/plain'],
      ['Location', '/x\r\nSet-Cookie: stolen=1'],
    ]);
    await new Promise((resolve) => socket.once('close', resolve));
    const text = written();
    expect(text.startsWith('HTTP/1.1 403\r\n')).toBe(true);
    expect(text).toContain('Content-Type: text/plain\r\n');
    expect(text).toContain('Content-Length: 4\r\n\r\nnope');
    expect(text).not.toContain('X-Evil');
    expect(text).not.toContain('stolen');
  });
});
