/**
 * The zod schema of the gateway sections of `lapse.yaml` (`store`, `identity`,
 * `gateway`, `admin`): the form of each value, with every default filled in
 * where a value stands alone. What depends on other values (a store type's
 * own keys, one JWT key source, an admin token beyond loopback) is checked by
 * `config-checks.ts` and put together by `config-sections.ts`.
 *
 * Messages set here are phrases about one value; the loader prefixes them with
 * the key's path and positions them in the file. No message quotes a value
 * that may be a secret (`store.url`, `identity.secret`, `admin.token`).
 */
import { createPublicKey } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { z } from 'zod';
import { ErrorCodes } from '../../errors.js';
import { JWT_ALGORITHMS } from '../../http/carriers/jwt-carrier.js';
import { quote } from '../../policy/issue-messages.js';
import { isRecord } from '../../policy/plain-data.js';
import {
  addLapseIssue,
  durationSchema,
  nonEmptyString,
  section,
  stringOrList,
  withoutUndefined,
} from '../../policy/policy-schema.js';
import { type Env, fromWhere, readEnvText } from './env-value.js';
import { isHost, type ListenAddress, parseListenAddress } from './listen-address.js';
import { Secret } from './secret.js';
import type { AdminSection, GatewayLimits, GatewaySection, RouteSection } from './types.js';

/** `gateway.listen` when it is left out. */
export const DEFAULT_GATEWAY_LISTEN: ListenAddress = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
});
/** `admin.listen` when it is left out. */
export const DEFAULT_ADMIN_LISTEN: ListenAddress = Object.freeze({ host: '127.0.0.1', port: 7778 });
/** `gateway.loginUrl` when it is left out. */
export const DEFAULT_LOGIN_URL = '/login';
/** `store.path` of `type: sqlite` when it is left out (and the store when `store` is). */
export const DEFAULT_SQLITE_PATH = './lapse.db';
/** `store.keyPrefix` of `type: redis` when it is left out (the `RedisStore` default). */
export const DEFAULT_KEY_PREFIX = 'lapse:';
/** `gateway.limits.maxHeaderBytes` when it is left out: 16 KiB, Node's own default. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** `gateway.limits.maxBodyBytes` when it is left out: 10 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** `gateway.limits.upstreamTimeout` when it is left out: 30 s. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 30_000;
/** The shortest `admin.token`: a bearer token guessed by trying must take too long. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
/** The shortest `identity.secret`, as `JwtCarrier` requires. */
export const MIN_JWT_SECRET_LENGTH = 32;
/** The longest `store.keyPrefix`, as `RedisStore` allows. */
const MAX_KEY_PREFIX_LENGTH = 128;

/** The values of `store.type`. */
export const STORE_TYPES = ['memory', 'sqlite', 'redis'] as const;
/** The values of `identity.mode`. */
export const IDENTITY_MODES = ['upstream', 'jwt'] as const;
/** The keys of `identity` that give the key JWTs are verified with; exactly one is needed. */
export const JWT_KEY_SOURCES = ['jwksUrl', 'publicKey', 'secret'] as const;

/** The algorithms `JwtCarrier` accepts (`none` never is): one list, the carrier's. */
export { JWT_ALGORITHMS };

/** An HTTP token (RFC 9110 §5.6.2): what cookie names are made of. */
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Characters no path lapse forwards to or redirects to may hold. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds.
const UNSAFE_PATH_CHARACTERS = /[\s\u0000-\u001f\u007f\\]/;

/** Whether a path is under lapse's own prefix, which is answered by lapse and never forwarded. */
function isReservedPath(path: string): boolean {
  return path === '/_lapse' || path.startsWith('/_lapse/') || path.startsWith('/_lapse?');
}

// ---------------------------------------------------------------------------
// Values that stand alone.

function listenSchema({ host, port }: ListenAddress) {
  const example = `${host}:${port}`;
  return z
    .string({ error: `must be host:port, such as ${example}` })
    .transform((text, ctx): ListenAddress => {
      const address = parseListenAddress(text);
      if (address === undefined) {
        addLapseIssue(
          ctx,
          ErrorCodes.POLICY_BAD_VALUE,
          `${quote(text)} is not host:port; write it like ${example}, [::1]:${port} or 0.0.0.0:${port} (a port from 0 to 65535)`,
        );
        return z.NEVER;
      }
      return address;
    });
}

const loginUrlSchema = z
  .string({ error: 'must be a same-origin path such as /login' })
  .superRefine((url, ctx) => {
    if (!url.startsWith('/') || url.startsWith('//')) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        `${quote(url)} is not a same-origin path; write a path such as /login (a URL to another site would make the gateway an open redirect)`,
      );
    } else if (UNSAFE_PATH_CHARACTERS.test(url) || url.includes('#')) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        'a login URL must not hold spaces, control characters, backslashes or #',
      );
    } else if (isReservedPath(url)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        'paths under /_lapse/ are answered by lapse itself; give the login page of the app',
      );
    }
  });

const publicGlobSchema = z
  .string({ error: 'must be a path glob starting with "/"' })
  .regex(/^\//, { error: 'must be a path glob starting with "/"' });

const routePathSchema = z
  .string({ error: 'must be a path prefix starting with "/", such as / or /api' })
  .superRefine((path, ctx) => {
    if (!path.startsWith('/') || path.startsWith('//')) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        `${quote(path)} does not start with a single "/"; a route path is a path prefix such as / or /api`,
      );
    } else if (UNSAFE_PATH_CHARACTERS.test(path) || /[?#*]/.test(path)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        'a route path is a plain path prefix: no spaces, control characters, backslashes, ?, # or *',
      );
    } else if (isReservedPath(path)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        'paths under /_lapse/ are answered by lapse itself and never forwarded',
      );
    }
  });

/** Whether `host` is what a `Host` header holds: a name or address, and an optional port. */
function isHostHeader(host: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::([0-9]{1,5}))?$/.exec(host);
  if (match === null) return false;
  const [, ipv6, name, port] = match;
  const isName = ipv6 === undefined ? name !== undefined && isHost(name) : isIPv6(ipv6);
  return isName && (port === undefined || Number(port) <= 65_535);
}

/** A `Host` to match, lower case. */
const routeHostSchema = z
  .string({ error: 'must be a host name such as app.example.com' })
  .transform((host, ctx): string => {
    if (!isHostHeader(host)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        `${quote(host)} is not a host name; write it like app.example.com or app.example.com:8443`,
      );
      return z.NEVER;
    }
    return host.toLowerCase();
  });

/** The URL of an upstream. Never quoted in a message: it could hold a password. */
const upstreamSchema = z
  .string({ error: 'must be an http:// or https:// URL such as http://127.0.0.1:3000' })
  .superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        'not a URL; write it like http://127.0.0.1:3000 or https://app.internal',
      );
      return;
    }
    const problem =
      url.protocol !== 'http:' && url.protocol !== 'https:'
        ? `a ${url.protocol} URL cannot be an upstream; use http:// or https://`
        : url.username !== '' || url.password !== ''
          ? 'an upstream URL must not hold a user name or password'
          : url.search !== '' || url.hash !== ''
            ? 'an upstream URL must not have a query or fragment: each request brings its own'
            : undefined;
    if (problem !== undefined) addLapseIssue(ctx, ErrorCodes.POLICY_BAD_VALUE, problem);
  });

const jwksUrlSchema = z.string({ error: 'must be an https:// URL' }).superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    addLapseIssue(ctx, ErrorCodes.POLICY_BAD_VALUE, 'not a URL; give an absolute https:// URL');
    return;
  }
  const isLocal = url.hostname === 'localhost' || url.hostname === '127.0.0.1';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLocal)) {
    addLapseIssue(
      ctx,
      ErrorCodes.POLICY_BAD_VALUE,
      'keys must be fetched over https:// (plain http:// only from localhost)',
    );
  }
});

const bytesSchema = z
  .int({ error: 'must be a whole number of bytes' })
  .min(1, { error: 'must be at least 1 byte' });

const booleanSchema = z.boolean({ error: 'must be true or false' });

/**
 * A secret: the text, or `env:NAME`. `check` says what is wrong with the text
 * (never quoting it), or nothing.
 */
function secretSchema(env: Env, expected: string, check: (text: string) => string | undefined) {
  return z.unknown().transform((value, ctx): Secret => {
    const found = readEnvText(value, env, ctx, expected);
    if (found === undefined) return z.NEVER;
    const problem = check(found.text);
    if (problem !== undefined) {
      addLapseIssue(ctx, ErrorCodes.POLICY_BAD_VALUE, `${problem}${fromWhere(found)}`);
      return z.NEVER;
    }
    return new Secret(found.text);
  });
}

function redisUrlProblem(text: string): string | undefined {
  let protocol: string;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = '';
  }
  return protocol === 'redis:' || protocol === 'rediss:'
    ? undefined
    : 'expected a redis:// or rediss:// URL such as redis://127.0.0.1:6379';
}

function adminTokenProblem(text: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(text)) {
    return 'expected a token of visible ASCII characters only (it travels in an Authorization header)';
  }
  if (text.length < MIN_ADMIN_TOKEN_LENGTH) {
    return `expected a token of at least ${MIN_ADMIN_TOKEN_LENGTH} characters (for example from openssl rand -base64 32)`;
  }
  return undefined;
}

function jwtSecretProblem(text: string): string | undefined {
  return text.length < MIN_JWT_SECRET_LENGTH
    ? `expected a secret of at least ${MIN_JWT_SECRET_LENGTH} characters`
    : undefined;
}

/** A PEM public key, or `env:NAME`. Public, so not a {@link Secret}; still never quoted. */
function publicKeySchema(env: Env) {
  return z.unknown().transform((value, ctx): string => {
    const found = readEnvText(value, env, ctx, 'a PEM public key');
    if (found === undefined) return z.NEVER;
    let problem: string | undefined;
    if (/PRIVATE KEY/.test(found.text)) {
      problem = 'is a private key; give the public key only (-----BEGIN PUBLIC KEY-----)';
    } else {
      try {
        createPublicKey(found.text);
      } catch {
        problem = 'expected a PEM public key (-----BEGIN PUBLIC KEY-----)';
      }
    }
    if (problem !== undefined) {
      addLapseIssue(ctx, ErrorCodes.POLICY_BAD_VALUE, `${problem}${fromWhere(found)}`);
      return z.NEVER;
    }
    return found.text;
  });
}

// ---------------------------------------------------------------------------
// store

function storeShape(env: Env) {
  return {
    type: z.enum(STORE_TYPES, { error: 'must be memory, sqlite or redis' }),
    path: nonEmptyString('a file path')
      .refine((path) => !path.includes('\0'), { error: 'must not hold a NUL character' })
      .optional(),
    url: secretSchema(env, 'a redis:// URL', redisUrlProblem).optional(),
    keyPrefix: nonEmptyString('a key prefix such as lapse:')
      .max(MAX_KEY_PREFIX_LENGTH, {
        error: `must be at most ${MAX_KEY_PREFIX_LENGTH} characters`,
      })
      .optional(),
  };
}

// ---------------------------------------------------------------------------
// identity

const algorithmSchema = z
  .string({ error: 'must be a JWS algorithm such as RS256' })
  .superRefine((alg, ctx) => {
    if (!JWT_ALGORITHMS.has(alg)) {
      addLapseIssue(
        ctx,
        ErrorCodes.POLICY_BAD_VALUE,
        `${quote(alg)} is not an algorithm lapse accepts (${[...JWT_ALGORITHMS].join(', ')})`,
      );
    }
  });

function identityShape(env: Env) {
  return {
    mode: z.enum(IDENTITY_MODES, { error: 'must be upstream or jwt' }),
    issuer: stringOrList(
      nonEmptyString('an issuer'),
      'an issuer',
      'Accepted iss values.',
    ).optional(),
    audience: stringOrList(
      nonEmptyString('an audience'),
      'an audience',
      'Accepted aud values.',
    ).optional(),
    algorithms: stringOrList(
      algorithmSchema,
      'a JWS algorithm such as RS256',
      'Accepted algorithms.',
    )
      .transform((algorithms) => [...new Set(algorithms)])
      .optional(),
    jwksUrl: jwksUrlSchema.optional(),
    publicKey: publicKeySchema(env).optional(),
    secret: secretSchema(env, 'an HMAC secret', jwtSecretProblem).optional(),
    cookie: z
      .string({ error: 'must be a cookie name' })
      .regex(HTTP_TOKEN, { error: 'is not a cookie name (letters, digits and -_. only)' })
      .optional(),
    claims: section({
      roles: nonEmptyString('a claim name').optional(),
      userType: nonEmptyString('a claim name').optional(),
    })
      .transform((claims) => ({
        roles: claims.roles ?? 'roles',
        userType: claims.userType ?? 'user_type',
      }))
      .nullish(),
  };
}

// ---------------------------------------------------------------------------
// gateway

const routeShape = {
  path: routePathSchema,
  host: routeHostSchema.optional(),
  upstream: upstreamSchema,
  environment: nonEmptyString('an environment name').optional(),
  app: nonEmptyString('an app name').optional(),
  injectClient: booleanSchema.optional(),
  wsActivity: z.enum(['client', 'both'], { error: 'must be client or both' }).optional(),
};

const routeSchema = section(routeShape).transform(
  (route): RouteSection =>
    withoutUndefined({
      path: route.path,
      host: route.host,
      upstream: route.upstream,
      environment: route.environment,
      app: route.app,
      injectClient: route.injectClient ?? false,
      wsActivity: route.wsActivity ?? 'client',
    }),
);

const limitsShape = {
  maxHeaderBytes: bytesSchema.optional(),
  maxBodyBytes: bytesSchema.optional(),
  upstreamTimeout: durationSchema('How long to wait for an upstream response head.', {
    off: '"off" is not allowed: the gateway always bounds how long it waits for an upstream',
    zero: 'a timeout of zero would fail every request',
  }).optional(),
};

const LIMIT_DEFAULTS: GatewayLimits = {
  maxHeaderBytes: DEFAULT_MAX_HEADER_BYTES,
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  upstreamTimeoutMs: DEFAULT_UPSTREAM_TIMEOUT_MS,
};

const gatewayShape = {
  listen: listenSchema(DEFAULT_GATEWAY_LISTEN).optional(),
  loginUrl: loginUrlSchema.optional(),
  public: z.array(publicGlobSchema, { error: 'must be a list of path globs' }).nullish(),
  routes: z
    .array(routeSchema, { error: 'must be a list of routes' })
    .min(1, { error: 'must hold at least one route' }),
  limits: section(limitsShape)
    .transform(
      (limits): GatewayLimits => ({
        maxHeaderBytes: limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
        maxBodyBytes: limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
        upstreamTimeoutMs: limits.upstreamTimeout ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      }),
    )
    .nullish(),
  development: booleanSchema.optional(),
};

const gatewaySchema = section(gatewayShape).transform(
  (gateway): GatewaySection => ({
    listen: gateway.listen ?? DEFAULT_GATEWAY_LISTEN,
    loginUrl: gateway.loginUrl ?? DEFAULT_LOGIN_URL,
    public: gateway.public ?? [],
    routes: gateway.routes,
    limits: gateway.limits ?? LIMIT_DEFAULTS,
    development: gateway.development ?? false,
  }),
);

// ---------------------------------------------------------------------------
// admin

/** The shortest `admin.auditSalt`, in characters (it keys an HMAC). */
const MIN_AUDIT_SALT_LENGTH = 16;

function auditSaltProblem(text: string): string | undefined {
  return text.length < MIN_AUDIT_SALT_LENGTH
    ? `expected a secret of at least ${MIN_AUDIT_SALT_LENGTH} characters`
    : undefined;
}

const auditSchema = z
  .string({ error: 'must be stdout, stderr or a file path' })
  .min(1, { error: 'must be stdout, stderr or a file path' });

function adminShape(env: Env) {
  return {
    listen: listenSchema(DEFAULT_ADMIN_LISTEN).optional(),
    token: secretSchema(env, 'an admin token', adminTokenProblem).optional(),
    audit: auditSchema.optional(),
    auditSalt: secretSchema(env, 'an audit salt', auditSaltProblem).optional(),
  };
}

function adminSchema(env: Env) {
  return section(adminShape(env)).transform(
    (admin): AdminSection =>
      withoutUndefined({
        listen: admin.listen ?? DEFAULT_ADMIN_LISTEN,
        token: admin.token,
        audit: admin.audit ?? 'stdout',
        auditSalt: admin.auditSalt,
      }),
  );
}

// ---------------------------------------------------------------------------
// The file

/**
 * A section that holds a secret: something other than a mapping in its place
 * is reported without quoting it (a line that lost its break can put the
 * secret there).
 */
function secretBearing<Output>(schema: z.ZodType<Output>, example: string) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      if (!isRecord(value)) {
        addLapseIssue(ctx, ErrorCodes.POLICY_BAD_VALUE, `expected a mapping such as ${example}`);
      }
    })
    .pipe(schema);
}

/**
 * The schema of the gateway sections of a whole `lapse.yaml`; other keys
 * (`version`, `policy`, unknown ones) are the policy loader's and are ignored
 * here. `env` is where `env:NAME` values are read from. A missing `gateway` is
 * reported by the checks, which can say what it needs.
 */
export function configSectionsSchema(env: Env) {
  return z.object({
    store: secretBearing(section(storeShape(env)), '{ type: sqlite, path: ./lapse.db }').nullish(),
    identity: secretBearing(section(identityShape(env)), '{ mode: upstream }').nullish(),
    gateway: gatewaySchema.optional(),
    admin: secretBearing(
      adminSchema(env),
      '{ listen: 127.0.0.1:7778, token: env:LAPSE_ADMIN_TOKEN }',
    ).nullish(),
  });
}

/** What `configSectionsSchema` produces. */
export type ConfigSectionsData = z.output<ReturnType<typeof configSectionsSchema>>;

const NO_ENV: Env = {};

const KNOWN_KEYS: ReadonlyMap<string, readonly string[]> = new Map([
  ['.store', Object.keys(storeShape(NO_ENV))],
  ['.identity', Object.keys(identityShape(NO_ENV))],
  ['.identity.claims', ['roles', 'userType']],
  ['.gateway', Object.keys(gatewayShape)],
  ['.gateway.routes[]', Object.keys(routeShape)],
  ['.gateway.limits', Object.keys(limitsShape)],
  ['.admin', Object.keys(adminShape(NO_ENV))],
]);

/** The keys the mapping at `path` may hold, or `undefined` if `path` is not a known section. */
export function knownConfigKeysAt(path: readonly PropertyKey[]): readonly string[] | undefined {
  const pattern = path
    .map((segment) => (typeof segment === 'number' ? '[]' : `.${String(segment)}`))
    .join('');
  return KNOWN_KEYS.get(pattern);
}
