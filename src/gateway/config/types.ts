/**
 * The validated `lapse.yaml` of the gateway: the policy and the `store`,
 * `identity`, `gateway` and `admin` sections, with every default filled in.
 * Produced by `loadGatewayConfig`; deeply frozen.
 */
import type { Policy } from '../../policy/types.js';
import type { ListenAddress } from './listen-address.js';
import type { Secret } from './secret.js';

/** `store: { type: memory }`: sessions live in this process only and end when it stops. */
export interface MemoryStoreSection {
  readonly type: 'memory';
}

/** `store: { type: sqlite, path }`: one file, shared by the processes of one machine. */
export interface SqliteStoreSection {
  readonly type: 'sqlite';
  /** The database file, as written (relative to the working directory). Default: `./lapse.db`. */
  readonly path: string;
}

/** `store: { type: redis, url, keyPrefix }`: shared by every instance; Redis `TIME` is the clock. */
export interface RedisStoreSection {
  readonly type: 'redis';
  /** `redis://` or `rediss://` URL; a secret, since it may hold a password. Required. */
  readonly url: Secret;
  /** Prefix of every key and of the revocation channel. Default: `lapse:`. */
  readonly keyPrefix: string;
}

/** Where the gateway keeps sessions. Default: `{ type: 'sqlite', path: './lapse.db' }`. */
export type StoreSection = MemoryStoreSection | SqliteStoreSection | RedisStoreSection;

/**
 * `identity: { mode: upstream }` (the default): the app keeps its own login and
 * starts and ends sessions with the `Lapse-Begin` / `Lapse-End` response headers.
 */
export interface UpstreamIdentitySection {
  readonly mode: 'upstream';
}

/**
 * `identity: { mode: jwt, ... }`: sessions are carried by JWTs verified with
 * exactly one of `jwksUrl`, `publicKey` or `secret` (the other two are absent).
 * `jwtCarrierOptions` turns it into the options of a `JwtCarrier`.
 */
export interface JwtIdentitySection {
  readonly mode: 'jwt';
  /** Accepted `iss` values (a single string in the file becomes a list of one). Required. */
  readonly issuer: readonly string[];
  /** Accepted `aud` values. Required. */
  readonly audience: readonly string[];
  /** Accepted algorithms. Default: `['HS256']` with a `secret`, else `['RS256']`. */
  readonly algorithms: readonly string[];
  /** JWKS URL, `https://` (plain `http://` only on localhost). */
  readonly jwksUrl?: string;
  /** PEM public key (SPKI); `env:NAME` allowed. */
  readonly publicKey?: string;
  /** HMAC secret of at least 32 characters; `env:NAME` allowed. */
  readonly secret?: Secret;
  /** Read the token from this cookie instead of `Authorization: Bearer`. Default: absent (the header). */
  readonly cookie?: string;
  /** Claim names. Default: `{ roles: 'roles', userType: 'user_type' }`. */
  readonly claims: { readonly roles: string; readonly userType: string };
}

/** How the gateway learns who signed in. Default: `{ mode: 'upstream' }`. */
export type IdentitySection = UpstreamIdentitySection | JwtIdentitySection;

/** One `gateway.routes[]` entry: requests whose path starts with `path` go to `upstream`. */
export interface RouteSection {
  /** A path prefix starting with `/`. */
  readonly path: string;
  /** Only requests for this `Host` (lower case, port optional). Default: absent (any host). */
  readonly host?: string;
  /** The `http://` or `https://` URL requests are forwarded to, as written. */
  readonly upstream: string;
  /** The enforcement context's environment, for policy rules. Default: absent. */
  readonly environment?: string;
  /** The enforcement context's app, for policy rules. Default: absent. */
  readonly app?: string;
  /** Add the browser SDK to HTML responses. Default: `false`. */
  readonly injectClient: boolean;
  /** Which WebSocket messages are genuine activity: `client` (default) or `both` directions. */
  readonly wsActivity: 'client' | 'both';
}

/** Bounds of what the gateway accepts and waits for. */
export interface GatewayLimits {
  /** Largest request head, bytes. Default: 16384 (Node's own default). */
  readonly maxHeaderBytes: number;
  /** Largest request body forwarded, bytes. Default: 10485760 (10 MiB). */
  readonly maxBodyBytes: number;
  /** How long to wait for an upstream's response head, ms (`upstreamTimeout` in the file). Default: 30000. */
  readonly upstreamTimeoutMs: number;
}

/** The `gateway` section: the listener, the login page, public paths and routes. */
export interface GatewaySection {
  /** Default: `127.0.0.1:8080`. */
  readonly listen: ListenAddress;
  /** Where browser navigations without a live session are sent: a same-origin path. Default: `/login`. */
  readonly loginUrl: string;
  /** Path globs forwarded without a session (the `loginUrl` always is). Default: `[]`. */
  readonly public: readonly string[];
  /** At least one route. Required. */
  readonly routes: readonly RouteSection[];
  readonly limits: GatewayLimits;
  /** Plain-HTTP development: the session cookie drops `Secure`. Default: `false`. */
  readonly development: boolean;
}

/** The `admin` section: the admin listener and its token. */
export interface AdminSection {
  /** Default: `127.0.0.1:7778`. A listener beyond loopback needs a `token`. */
  readonly listen: ListenAddress;
  /** Bearer token of the admin API; `env:NAME` allowed. Default: absent (loopback only). */
  readonly token?: Secret;
  /** Where audit lines go: `stdout`, `stderr`, or a file path (appended to). Default: `stdout`. */
  readonly audit: string;
  /**
   * Key of the salted session hashes in audit lines, at least 16 characters;
   * `env:NAME` allowed. Give one to link a session's lines across restarts
   * and instances. Default: absent (a random salt per process).
   */
  readonly auditSalt?: Secret;
}

/**
 * A whole, validated `lapse.yaml`, deeply frozen. Secrets are {@link Secret}s:
 * they print as `[secret]` in `JSON.stringify`, `String()` and `util.inspect`.
 *
 * @example
 * import { type GatewayConfig, loadGatewayConfigFile } from 'lapse/gateway';
 * const config: GatewayConfig = await loadGatewayConfigFile('lapse.yaml');
 * for (const route of config.gateway.routes) console.log(route.path, '->', route.upstream);
 */
export interface GatewayConfig {
  /** The file as it was given to the loader. */
  readonly file: string;
  readonly policy: Policy;
  readonly store: StoreSection;
  readonly identity: IdentitySection;
  readonly gateway: GatewaySection;
  readonly admin: AdminSection;
}
