/**
 * The headers a proxy must not pass on, and the ones the gateway adds.
 *
 * Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection, not the
 * message, and go no further; so do the headers a `Connection` header names.
 * `Lapse-*` headers are the gateway's own: a client can never send them in
 * (they would forge an identity), and the ones an upstream sends are consumed.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Headers that are never forwarded, in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // `Expect: 100-continue` is answered by the gateway's own server.
  'expect',
  // HTTP/2 pseudo-headers and `http2-settings` have no meaning on HTTP/1.1.
  'http2-settings',
]);

/** The prefix of the gateway's own headers. */
const LAPSE_PREFIX = 'lapse-';

/** Whether a header stays on its hop: hop-by-hop, named by `Connection`, or the gateway's own. */
function staysOnHop(name: string, named: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith(LAPSE_PREFIX) || named?.has(name) === true;
}

/** A header map as node:http and undici use it: lower-case names. */
export type HeaderMap = Record<string, string | string[]>;

function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const tokens = new Set<string>();
  for (const part of Array.isArray(value) ? value : [value]) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name.length > 0) tokens.add(name);
    }
  }
  return tokens;
}

/** A `Cookie` header without the named cookie; `undefined` when nothing is left. */
export function cookieHeaderWithout(header: string, name: string): string | undefined {
  if (!header.includes(name)) return header;
  const kept = header
    .split(';')
    .filter((pair) => {
      const trimmed = pair.trimStart();
      return !(trimmed.startsWith(name) && trimmed.slice(name.length).trimStart().startsWith('='));
    })
    .map((pair) => pair.trim())
    .filter((pair) => pair.length > 0);
  return kept.length === 0 ? undefined : kept.join('; ');
}

/** What the gateway knows of the client connection, for `X-Forwarded-*`. */
export interface ForwardingFacts {
  /** The client's address as the gateway's socket saw it. */
  readonly clientAddress: string | undefined;
  /** `https` when the gateway's own listener is TLS, else `http`. */
  readonly protocol: 'http' | 'https';
  /** The session cookie's name, removed from `Cookie` (the id is a credential the app never needs). */
  readonly sessionCookie: string | undefined;
  /** `Lapse-Identity` of a live session, added for the app. */
  readonly identity: string | undefined;
}

/**
 * The headers of a request as the upstream receives them: hop-by-hop and
 * client-sent `Lapse-*` headers removed, the session cookie removed, `Host`
 * kept, `X-Forwarded-For` appended to, `X-Forwarded-Proto` and
 * `X-Forwarded-Host` set, and `Lapse-Identity` added for a live session.
 */
export function upstreamRequestHeaders(req: IncomingMessage, facts: ForwardingFacts): HeaderMap {
  const source = req.headers;
  const named = connectionTokens(source.connection);
  const headers: HeaderMap = {};
  for (const name in source) {
    const value = source[name];
    if (value === undefined) continue;
    if (staysOnHop(name, named)) continue;
    if (name === 'x-forwarded-proto' || name === 'x-forwarded-host') continue;
    if (name === 'cookie' && facts.sessionCookie !== undefined) {
      const kept = cookieHeaderWithout(value as string, facts.sessionCookie);
      if (kept !== undefined) headers.cookie = kept;
      continue;
    }
    headers[name] = value;
  }
  if (facts.clientAddress !== undefined) {
    const earlier = source['x-forwarded-for'];
    headers['x-forwarded-for'] =
      earlier === undefined
        ? facts.clientAddress
        : `${Array.isArray(earlier) ? earlier.join(', ') : earlier}, ${facts.clientAddress}`;
  }
  headers['x-forwarded-proto'] = facts.protocol;
  if (source.host !== undefined) headers['x-forwarded-host'] = source.host;
  if (facts.identity !== undefined) headers['lapse-identity'] = facts.identity;
  return headers;
}

/**
 * The headers of an upstream response as the client receives them, before the
 * gateway adds its own: hop-by-hop and `Lapse-*` headers removed.
 */
export function clientResponseHeaders(
  source: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
): HeaderMap {
  const named = connectionTokens(source.connection);
  const headers: HeaderMap = {};
  for (const name in source) {
    const value = source[name];
    if (value === undefined) continue;
    if (staysOnHop(name, named)) continue;
    headers[name] = value;
  }
  return headers;
}
