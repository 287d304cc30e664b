import type { HttpResponseSpec } from '../http/rejection.js';
import { jsonResponse } from '../http/rejection.js';

/** What went wrong on the way to an upstream, as the client is told. */
export type UpstreamFailure = 'upstream_unreachable' | 'upstream_timeout' | 'upstream_failed';

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, cause } = error as { code?: unknown; cause?: unknown };
  if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  return codeOf(cause) ?? (typeof code === 'string' ? code : undefined);
}

/** Classify an error of the upstream client (undici) or its socket. */
export function classifyUpstreamError(error: unknown): UpstreamFailure {
  const code = codeOf(error);
  if (code !== undefined && TIMEOUT_CODES.has(code)) return 'upstream_timeout';
  if (code !== undefined && UNREACHABLE_CODES.has(code)) return 'upstream_unreachable';
  return 'upstream_failed';
}

/** 504 for a timeout, 502 for anything else, with a body that says which. */
export function upstreamErrorResponse(failure: UpstreamFailure): HttpResponseSpec {
  return failure === 'upstream_timeout'
    ? jsonResponse(504, { error: 'gateway_timeout', reason: failure })
    : jsonResponse(502, { error: 'bad_gateway', reason: failure });
}
