import type { HttpRequestLike } from './http-request.js';

/** The header every state-changing `/_lapse/` request must carry (SPEC section 4). */
export const CSRF_HEADER = 'x-lapse';

/**
 * Whether a state-changing request may proceed: it must carry `X-Lapse: 1`
 * (which a cross-site form cannot send, and which forces a CORS preflight
 * from script), and whatever the browser says about its origin must say
 * same-origin: `Sec-Fetch-Site` when sent, else `Origin` against `Host` (or an
 * allowed origin). A client that sends neither header is not a browser, and
 * CSRF is a browser attack, so the custom header suffices there.
 */
export function isSameOriginStateChange(
  request: HttpRequestLike,
  allowedOrigins: readonly string[] = [],
): boolean {
  if (request.header(CSRF_HEADER) !== '1') return false;
  const site = request.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = request.header('origin');
  if (origin === undefined) return site === 'same-origin' || site === undefined;
  if (allowedOrigins.includes(origin)) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false; // `Origin: null` and garbage alike
  }
  return host.length > 0 && host === request.header('host');
}
