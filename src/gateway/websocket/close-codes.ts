import type { Duplex } from 'node:stream';
import type { RejectReason } from '../../session/types.js';

/** The close code of a WebSocket whose session ended (SPEC section 4): 4000 + HTTP 401. */
export const SESSION_EXPIRED_CLOSE_CODE = 4401;

/** The close code when the session store cannot be reached: fail closed (1011, internal error). */
export const STORE_UNAVAILABLE_CLOSE_CODE = 1011;

/** The close reason that goes with {@link STORE_UNAVAILABLE_CLOSE_CODE}. */
export const STORE_UNAVAILABLE_CLOSE_REASON = 'session_store_unavailable';

/** The close code of {@link WebSocketBridge.closeAll} by default: going away. */
export const GOING_AWAY_CLOSE_CODE = 1001;

/** The close reason of a WebSocket whose session ended: `session_expired:<reason>`. */
export function sessionExpiredReason(reason: RejectReason): string {
  return `session_expired:${reason}`;
}

/**
 * The code to pass on when one side of a bridged connection closed with
 * `code`: codes that only describe what happened locally (no status, abnormal
 * closure, TLS failure) may not be sent in a close frame, and `ws` throws on
 * them: "no status" (1005) becomes a normal closure (1000), the others an
 * internal error (1011).
 */
export function relayableCloseCode(code: number): number {
  if (code === 1005) return 1000;
  const isSendable =
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
  return isSendable ? code : 1011;
}

/**
 * Answer an upgrade that will not be completed with a plain HTTP response and
 * close the socket: the client never got a `101`, so it still speaks HTTP.
 */
export function answerUpgrade(
  socket: Duplex,
  status: number,
  statusText: string,
  body: Readonly<Record<string, string>>,
  extraHeaders: ReadonlyArray<readonly [string, string]> = [],
): void {
  relayUpgradeAnswer(socket, status, statusText, Buffer.from(JSON.stringify(body)), [
    ['Content-Type', 'application/json; charset=utf-8'],
    ['Cache-Control', 'no-store'],
    ...extraHeaders,
  ]);
}

/** A header value that cannot split the response it is written into. */
const SAFE_HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Write a whole HTTP response to a socket whose upgrade is refused (the
 * gateway's own answer, or the upstream's relayed), then close it.
 */
export function relayUpgradeAnswer(
  socket: Duplex,
  status: number,
  statusText: string,
  body: Buffer,
  headers: ReadonlyArray<readonly [string, string]>,
): void {
  if (socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = SAFE_HEADER_VALUE.test(statusText) ? statusText : '';
  const head = [
    `HTTP/1.1 ${status} ${text}`.trimEnd(),
    'Connection: close',
    ...headers
      .filter(([, value]) => SAFE_HEADER_VALUE.test(value))
      .map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${body.length}`,
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
}
