import type { RejectReason } from '../session/types.js';
import { type HttpRequestLike, isNavigation } from './http-request.js';

/** A response the HTTP layer wants sent, framework-neutral. */
export interface HttpResponseSpec {
  readonly status: number;
  /** Header pairs in order; a name may repeat (`Set-Cookie`). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
}

const JSON_TYPE = ['Content-Type', 'application/json; charset=utf-8'] as const;
const NO_STORE = ['Cache-Control', 'no-store'] as const;

/** A JSON response that no cache keeps. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: ReadonlyArray<readonly [string, string]> = [],
): HttpResponseSpec {
  return { status, headers: [JSON_TYPE, NO_STORE, ...headers], body: JSON.stringify(body) };
}

/** Longest `return_to` carried to the login page. */
const MAX_RETURN_TO = 2_048;

/**
 * The request target as a `return_to`, only when it is a same-origin path:
 * one leading `/`, not `//` or `/\` (which browsers read as another host), no
 * control characters. Anything else gets no `return_to` at all.
 */
export function safeReturnTo(url: string): string | undefined {
  if (url.length > MAX_RETURN_TO || !url.startsWith('/')) return undefined;
  if (url.startsWith('//') || url.startsWith('/\\')) return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  if (/[\u0000-\u001f\u007f\\]/.test(url)) return undefined;
  return url;
}

/**
 * The answer to a rejected session (SPEC section 4): a browser navigation is
 * sent to the login page (303) with the reason and where to return; anything
 * else gets 401 with `WWW-Authenticate` and a JSON body.
 */
export function rejectionResponse(
  reason: RejectReason,
  request: HttpRequestLike,
  loginUrl: string | undefined,
  extraHeaders: ReadonlyArray<readonly [string, string]> = [],
): HttpResponseSpec {
  if (loginUrl !== undefined && isNavigation(request)) {
    const returnTo = safeReturnTo(request.url);
    const query = `reason=${reason}${returnTo === undefined ? '' : `&return_to=${encodeURIComponent(returnTo)}`}`;
    const location = `${loginUrl}${loginUrl.includes('?') ? '&' : '?'}${query}`;
    return { status: 303, headers: [['Location', location], NO_STORE, ...extraHeaders] };
  }
  return jsonResponse(401, { error: 'session_expired', reason }, [
    ['WWW-Authenticate', `Lapse error="session_expired", reason="${reason}"`],
    ...extraHeaders,
  ]);
}

/** The answer when the store cannot be reached and enforcement fails closed. */
export function storeUnavailableResponse(): HttpResponseSpec {
  return jsonResponse(503, { error: 'session_store_unavailable' }, [['Retry-After', '1']]);
}
