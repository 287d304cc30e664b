import picomatch from 'picomatch';
import { OptionError } from '../errors.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { EnforcementContext, Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionStore } from '../store/session-store.js';
import type { SessionCarrier } from './carriers/carrier.js';
import { CookieCarrier } from './carriers/cookie-carrier.js';
import { JwtCarrier, type JwtCarrierOptions } from './carriers/jwt-carrier.js';
import type { SessionCookieOptions } from './cookies.js';
import { pathOf } from './http-request.js';

/** Options of {@link createLapse}. */
export interface LapseOptions {
  /** The policy (from `loadPolicy`/`loadPolicyFile`), or a compiled one. Not needed when `authority` is given. */
  readonly policy?: Policy | CompiledPolicy;
  /** Where sessions live. Default: a new `MemoryStore` (one process only). */
  readonly store?: SessionStore;
  /** An existing authority to share (its policy and store are used). */
  readonly authority?: SessionAuthority;
  /** The environment requests are enforced in (`production`, ...), for policy rules. */
  readonly environment?: string;
  /** The app name, for policy rules. */
  readonly app?: string;
  /** Where browser navigations without a live session are sent (303). Without it, they get 401 too. */
  readonly loginUrl?: string;
  /** Path globs served without a session (a session they carry is checked passively). The loginUrl always is. */
  readonly public?: readonly string[];
  /** The session cookie: name (`lapse_sid`), `development: true` to drop `Secure` on plain HTTP, domain, path. */
  readonly cookie?: {
    readonly name?: string;
    readonly development?: boolean;
    readonly domain?: string;
    readonly path?: string;
  };
  /** Carry sessions in JWTs instead of the cookie. */
  readonly jwt?: JwtCarrierOptions;
  /** `deny` (default): an unreachable store fails closed with 503. `allow`: requests pass unverified (counted, audited). */
  readonly onStoreError?: 'deny' | 'allow';
  /** Origins besides the request's own host that may call `/_lapse/extend` and `/_lapse/logout`. */
  readonly allowedOrigins?: readonly string[];
}

/** The validated, frozen settings a {@link Lapse} works with. */
export interface LapseSettings {
  readonly authority: SessionAuthority;
  readonly carrier: SessionCarrier;
  /** The cookie, when sessions are carried by cookie (else `undefined`: JWT). */
  readonly cookie: SessionCookieOptions | undefined;
  readonly context: EnforcementContext;
  readonly loginUrl: string | undefined;
  readonly isPublic: (path: string) => boolean;
  readonly onStoreError: 'deny' | 'allow';
  readonly allowedOrigins: readonly string[];
}

const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Check options once, at construction, with errors that name the option and the fix. */
export function settingsFrom(options: LapseOptions): LapseSettings {
  if (options === null || typeof options !== 'object') {
    throw new OptionError('options', 'pass { policy, store, ... }');
  }
  let authority = options.authority;
  if (authority === undefined) {
    if (options.policy === undefined) {
      throw new OptionError('policy', 'pass a policy from loadPolicyFile(), or an authority');
    }
    authority = new SessionAuthority({
      policy: options.policy,
      store: options.store ?? new MemoryStore(),
    });
  } else if (options.policy !== undefined || options.store !== undefined) {
    throw new OptionError(
      'authority',
      'give either an authority, or a policy and a store, not both',
    );
  }
  const loginUrl = options.loginUrl;
  if (loginUrl !== undefined && (!loginUrl.startsWith('/') || loginUrl.startsWith('//'))) {
    throw new OptionError('loginUrl', 'use a same-origin path such as /login');
  }
  const onStoreError = options.onStoreError ?? 'deny';
  if (onStoreError !== 'deny' && onStoreError !== 'allow') {
    throw new OptionError('onStoreError', 'use "deny" (fail closed, the default) or "allow"');
  }
  let carrier: SessionCarrier;
  let cookie: SessionCookieOptions | undefined;
  if (options.jwt !== undefined) {
    if (options.cookie !== undefined) {
      throw new OptionError(
        'cookie',
        'with jwt, sessions are carried by the token; name its cookie in jwt.cookie',
      );
    }
    carrier = new JwtCarrier(options.jwt);
  } else {
    const name = options.cookie?.name ?? 'lapse_sid';
    if (!COOKIE_NAME.test(name))
      throw new OptionError('cookie.name', 'use letters, digits and -_. only');
    cookie = Object.freeze({
      name,
      development: options.cookie?.development === true,
      path: options.cookie?.path ?? '/',
      ...(options.cookie?.domain === undefined ? {} : { domain: options.cookie.domain }),
    });
    carrier = new CookieCarrier(cookie);
  }
  const globs = [...(options.public ?? [])];
  for (const glob of globs) {
    if (typeof glob !== 'string' || !glob.startsWith('/')) {
      throw new OptionError('public', `${JSON.stringify(glob)} is not a path glob starting with /`);
    }
  }
  const matchers = globs.map((glob) => picomatch(glob, { dot: true }));
  const loginPath = loginUrl === undefined ? undefined : pathOf(loginUrl);
  return Object.freeze({
    authority,
    carrier,
    cookie,
    context: Object.freeze({
      ...(options.environment === undefined ? {} : { environment: options.environment }),
      ...(options.app === undefined ? {} : { app: options.app }),
    }),
    loginUrl,
    isPublic: (path: string) => path === loginPath || matchers.some((matches) => matches(path)),
    onStoreError,
    allowedOrigins: Object.freeze([...(options.allowedOrigins ?? [])]),
  });
}
