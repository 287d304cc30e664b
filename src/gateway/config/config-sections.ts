/**
 * The schema's output -> the typed sections, with the defaults that depend on
 * other values (a store type's own keys, the algorithms of a JWT key source).
 * Runs only on a file the schema and the checks found no problem in, so the
 * combinations they rule out are internal errors here.
 */
import type { ConfigSectionsData } from './config-schema.js';
import {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_KEY_PREFIX,
  DEFAULT_SQLITE_PATH,
  JWT_KEY_SOURCES,
} from './config-schema.js';
import type {
  AdminSection,
  GatewayConfig,
  IdentitySection,
  JwtIdentitySection,
  StoreSection,
} from './types.js';

/** The store when `store` is left out. */
export const DEFAULT_STORE: StoreSection = Object.freeze({
  type: 'sqlite',
  path: DEFAULT_SQLITE_PATH,
});

/** The identity when `identity` is left out. */
export const DEFAULT_IDENTITY: IdentitySection = Object.freeze({ mode: 'upstream' });

/** The admin listener when `admin` is left out: loopback, no token. */
export const DEFAULT_ADMIN: AdminSection = Object.freeze({
  listen: DEFAULT_ADMIN_LISTEN,
  audit: 'stdout',
});

/** `identity.claims` when it is left out: the `JwtCarrier` defaults. */
const DEFAULT_CLAIMS = Object.freeze({ roles: 'roles', userType: 'user_type' });

function internal(what: string): never {
  throw new Error(`lapse: internal error: ${what} passed the config checks`);
}

function storeSection(store: ConfigSectionsData['store']): StoreSection {
  if (store === undefined || store === null) return DEFAULT_STORE;
  switch (store.type) {
    case 'memory':
      return { type: 'memory' };
    case 'sqlite':
      return { type: 'sqlite', path: store.path ?? DEFAULT_SQLITE_PATH };
    case 'redis':
      return {
        type: 'redis',
        url: store.url ?? internal('a redis store without url'),
        keyPrefix: store.keyPrefix ?? DEFAULT_KEY_PREFIX,
      };
  }
}

function identitySection(identity: ConfigSectionsData['identity']): IdentitySection {
  if (identity === undefined || identity === null || identity.mode === 'upstream') {
    return DEFAULT_IDENTITY;
  }
  const sources = JWT_KEY_SOURCES.filter((key) => identity[key] !== undefined);
  if (sources.length !== 1) internal('a jwt identity without exactly one key source');
  const jwt: JwtIdentitySection = {
    mode: 'jwt',
    issuer: identity.issuer ?? internal('a jwt identity without issuer'),
    audience: identity.audience ?? internal('a jwt identity without audience'),
    algorithms: identity.algorithms ?? (identity.secret === undefined ? ['RS256'] : ['HS256']),
    ...(identity.jwksUrl === undefined ? {} : { jwksUrl: identity.jwksUrl }),
    ...(identity.publicKey === undefined ? {} : { publicKey: identity.publicKey }),
    ...(identity.secret === undefined ? {} : { secret: identity.secret }),
    ...(identity.cookie === undefined ? {} : { cookie: identity.cookie }),
    claims: identity.claims ?? DEFAULT_CLAIMS,
  };
  return jwt;
}

/** The typed `store`, `identity`, `gateway` and `admin` of a file without problems. */
export function configSections(
  data: ConfigSectionsData,
): Pick<GatewayConfig, 'store' | 'identity' | 'gateway' | 'admin'> {
  return {
    store: storeSection(data.store),
    identity: identitySection(data.identity),
    gateway: data.gateway ?? internal('a file without a gateway section'),
    admin: data.admin ?? DEFAULT_ADMIN,
  };
}
