/** What a request's Cookie header says about one cookie name. */
export type CookieLookup =
  | { readonly kind: 'absent' }
  | { readonly kind: 'present'; readonly value: string }
  /** The name appears more than once: ambiguous, so never trusted. */
  | { readonly kind: 'duplicate' };

/**
 * Find one cookie in a Cookie header. Unlike a parser that keeps the first or
 * last value, a name sent twice is reported as `duplicate`: a cookie-tossing
 * attacker must not get to choose which session id is used.
 */
export function findCookie(header: string | undefined, name: string): CookieLookup {
  if (header === undefined || header.length === 0) return { kind: 'absent' };
  let found: string | undefined;
  let start = 0;
  // One scan with indexOf: this runs on every request.
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      if (found !== undefined) return { kind: 'duplicate' };
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
        value = value.slice(1, -1);
      found = value;
    }
    start = end + 1;
  }
  return found === undefined ? { kind: 'absent' } : { kind: 'present', value: found };
}

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  readonly name: string;
  /** Without `Secure` (plain-HTTP development only). */
  readonly development: boolean;
  readonly domain?: string;
  readonly path: string;
}

function attributes(options: SessionCookieOptions): string {
  let text = `; Path=${options.path}; HttpOnly; SameSite=Lax`;
  if (!options.development) text += '; Secure';
  if (options.domain !== undefined) text += `; Domain=${options.domain}`;
  return text;
}

/**
 * The `Set-Cookie` value that hands a session id to the browser: a session
 * cookie (no Max-Age: the server decides when it ends), HttpOnly, SameSite=Lax,
 * Secure unless in development.
 */
export function sessionCookie(id: string, options: SessionCookieOptions): string {
  return `${options.name}=${id}${attributes(options)}`;
}

/** The `Set-Cookie` value that removes the session cookie. */
export function clearedSessionCookie(options: SessionCookieOptions): string {
  return `${options.name}=${attributes(options)}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}
