/**
 * The server's clock, seen from the browser. Deadlines come in the server's
 * epoch ms; this device's clock may be minutes off. One status round trip
 * gives the offset ("skew"): the server read its clock at about the midpoint
 * of our send and receive, so the error is at most half the round trip.
 */

/**
 * The skew, ms: add it to this device's wall clock to get the server's
 * (`serverTime = localTime + skew`); positive when the server is ahead.
 * `roundTripMs` comes from a monotonic clock (`performance.now()`), so a
 * wall-clock step during the request does not bend it; `receivedAt` is the
 * wall clock (`Date.now()`) when the answer arrived.
 *
 * @example
 * import { skewFromRoundTrip } from './server-clock.js';
 * const sentAt = performance.now();
 * const body = await (await fetch('/_lapse/status')).json();
 * const skewMs = skewFromRoundTrip(body.now, Date.now(), performance.now() - sentAt);
 */
export function skewFromRoundTrip(
  serverNow: number,
  receivedAt: number,
  roundTripMs: number,
): number {
  return serverNow - (receivedAt - Math.max(0, roundTripMs) / 2);
}

/**
 * This device's wall-clock time as the server's.
 *
 * @example
 * import { toServerTime } from './server-clock.js';
 * const serverNow = toServerTime(Date.now(), skewMs);
 */
export function toServerTime(localTime: number, skewMs: number): number {
  return localTime + skewMs;
}

/**
 * A server time (a deadline) as this device's wall-clock time.
 *
 * @example
 * import { toLocalTime } from './server-clock.js';
 * const wakeInMs = toLocalTime(status.warnAt, skewMs) - Date.now();
 */
export function toLocalTime(serverTime: number, skewMs: number): number {
  return serverTime - skewMs;
}
