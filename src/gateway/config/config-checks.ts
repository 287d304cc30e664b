/**
 * Checks across the values of the gateway sections: a store type's own keys,
 * the JWT settings of `mode: jwt` (exactly one key source, algorithms that key
 * can verify), an admin listener beyond loopback without a token, two routes
 * or two listeners on one address. They run on the plain-JS file, like the
 * policy's cross-checks, so they report even when other values are wrong, and
 * they never read a value that may be a secret.
 */
import { ErrorCodes } from '../../errors.js';
import type { DocumentPath } from '../../policy/document-path.js';
import { pathLabel } from '../../policy/document-path.js';
import type { IssueList } from '../../policy/issue-list.js';
import { quote } from '../../policy/issue-messages.js';
import { isRecord } from '../../policy/plain-data.js';
import type { Position, SourcePositions } from '../../policy/source-positions.js';
import {
  DEFAULT_ADMIN_LISTEN,
  DEFAULT_GATEWAY_LISTEN,
  IDENTITY_MODES,
  JWT_ALGORITHMS,
  JWT_KEY_SOURCES,
  knownConfigKeysAt,
  STORE_TYPES,
} from './config-schema.js';
import {
  formatListenAddress,
  isLoopbackHost,
  type ListenAddress,
  parseListenAddress,
} from './listen-address.js';

/** Whether a mapping gives `key` at all (an empty value counts: the schema reports it). */
function gives(record: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(record, key) && record[key] !== undefined;
}

function isOneOf<T extends string>(values: readonly T[], value: unknown): value is T {
  return (values as readonly unknown[]).includes(value);
}

function before(a: Position, b: Position): number {
  return a.line - b.line || a.column - b.column;
}

/** Checks one file; each method adds what it finds to `issues`. */
class SectionChecks {
  readonly #raw: Record<string, unknown>;
  readonly #positions: SourcePositions;
  readonly #issues: IssueList;

  constructor(raw: Record<string, unknown>, positions: SourcePositions, issues: IssueList) {
    this.#raw = raw;
    this.#positions = positions;
    this.#issues = issues;
  }

  run(): void {
    this.#store();
    this.#identity();
    this.#gateway();
    this.#admin();
  }

  #add(
    code: (typeof ErrorCodes)[keyof typeof ErrorCodes],
    message: string,
    path: DocumentPath,
    at: 'value' | 'key' = 'value',
  ): void {
    this.#issues.add(code, message, path, this.#positions.locate(path, at));
  }

  #missing(section: string, key: string, why: string): void {
    this.#add(
      ErrorCodes.POLICY_MISSING_KEY,
      `${section} is missing the required key ${quote(key)}: ${why}`,
      [section, key],
    );
  }

  #store(): void {
    const store = this.#raw.store;
    if (!isRecord(store) || !isOneOf(STORE_TYPES, store.type)) return;
    const ownType: Readonly<Record<string, string>> = {
      path: 'sqlite',
      url: 'redis',
      keyPrefix: 'redis',
    };
    for (const [key, type] of Object.entries(ownType)) {
      if (type !== store.type && gives(store, key)) {
        this.#add(
          ErrorCodes.CONFIG_CONFLICT,
          `store.${key} is only for type: ${type}, and this store is type: ${store.type}`,
          ['store', key],
          'key',
        );
      }
    }
    if (store.type === 'redis' && !gives(store, 'url')) {
      this.#missing(
        'store',
        'url',
        'type: redis needs a URL such as redis://127.0.0.1:6379, or env:NAME to read it from the environment',
      );
    }
  }

  #identity(): void {
    const identity = this.#raw.identity;
    if (!isRecord(identity) || !isOneOf(IDENTITY_MODES, identity.mode)) return;
    const jwtKeys = (knownConfigKeysAt(['identity']) ?? []).filter((key) => key !== 'mode');
    if (identity.mode === 'upstream') {
      for (const key of jwtKeys) {
        if (gives(identity, key)) {
          this.#add(
            ErrorCodes.CONFIG_CONFLICT,
            `identity.${key} is only for mode: jwt; with mode: upstream the app signs people in and sends Lapse-Begin`,
            ['identity', key],
            'key',
          );
        }
      }
      return;
    }
    for (const key of ['issuer', 'audience']) {
      if (!gives(identity, key)) {
        this.#missing('identity', key, `mode: jwt accepts only tokens with a known ${key}`);
      }
    }
    const sources = JWT_KEY_SOURCES.filter((key) => gives(identity, key))
      .map((key) => ({ key, at: this.#positions.locate(['identity', key], 'key') }))
      .sort((a, b) => before(a.at, b.at));
    const [first, ...others] = sources;
    if (first === undefined) {
      this.#add(
        ErrorCodes.POLICY_MISSING_KEY,
        'identity (mode: jwt) needs one of jwksUrl, publicKey or secret to verify tokens with',
        ['identity'],
      );
      return;
    }
    for (const other of others) {
      this.#add(
        ErrorCodes.CONFIG_CONFLICT,
        `identity.${other.key}: give exactly one of jwksUrl, publicKey or secret; identity.${first.key} is already given on line ${first.at.line}`,
        ['identity', other.key],
        'key',
      );
    }
    if (others.length === 0) this.#algorithms(identity.algorithms, first.key);
  }

  /** The algorithms must be ones the one key source can verify. */
  #algorithms(value: unknown, source: (typeof JWT_KEY_SOURCES)[number]): void {
    const algorithms = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    const known = algorithms.filter(
      (alg): alg is string => typeof alg === 'string' && JWT_ALGORITHMS.has(alg),
    );
    const isSecret = source === 'secret';
    const wrong = known.filter((alg) => alg.startsWith('HS') !== isSecret);
    if (wrong.length === 0) return;
    this.#add(
      ErrorCodes.CONFIG_CONFLICT,
      isSecret
        ? `identity.algorithms: ${wrong.join(', ')} cannot be verified with a secret; a secret verifies HS256, HS384 or HS512`
        : `identity.algorithms: ${wrong.join(', ')} needs a secret; with ${source} allow only public-key algorithms such as RS256, ES256 or EdDSA`,
      ['identity', 'algorithms'],
    );
  }

  #gateway(): void {
    if (!Object.hasOwn(this.#raw, 'gateway')) {
      this.#add(
        ErrorCodes.POLICY_MISSING_KEY,
        'the file has no gateway section: lapse serve needs gateway.routes, the upstreams to forward requests to',
        [],
      );
      return;
    }
    const gateway = this.#raw.gateway;
    if (!isRecord(gateway) || !Array.isArray(gateway.routes)) return;
    const seen = new Map<string, number>();
    gateway.routes.forEach((route: unknown, index) => {
      if (!isRecord(route) || typeof route.path !== 'string') return;
      const host = typeof route.host === 'string' ? route.host.toLowerCase() : undefined;
      const key = `${host ?? ''} ${route.path}`;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, index);
        return;
      }
      const firstPath: DocumentPath = ['gateway', 'routes', first, 'path'];
      const where = host === undefined ? 'for any host' : `for host ${quote(host)}`;
      this.#add(
        ErrorCodes.CONFIG_CONFLICT,
        `gateway.routes[${index}].path ${quote(route.path)} ${where} is already routed by ${pathLabel(firstPath.slice(0, -1))} on line ${this.#positions.locate(firstPath).line}`,
        ['gateway', 'routes', index, 'path'],
      );
    });
  }

  /** A listen address given in the file and valid, the default when left out, else `undefined`. */
  #listen(section: 'gateway' | 'admin', fallback: ListenAddress): ListenAddress | undefined {
    const value = this.#raw[section];
    if (value === undefined || value === null) return fallback;
    if (!isRecord(value)) return undefined;
    if (!gives(value, 'listen')) return fallback;
    return typeof value.listen === 'string' ? parseListenAddress(value.listen) : undefined;
  }

  #admin(): void {
    const admin = this.#raw.admin;
    const listen = this.#listen('admin', DEFAULT_ADMIN_LISTEN);
    if (listen === undefined) return;
    const isListenGiven = isRecord(admin) && gives(admin, 'listen');
    const hasToken = isRecord(admin) && gives(admin, 'token');
    if (!hasToken && !isLoopbackHost(listen.host)) {
      this.#add(
        ErrorCodes.CONFIG_ADMIN_UNPROTECTED,
        `admin.listen ${formatListenAddress(listen)} can be reached from other machines, and admin has no token: add token: env:LAPSE_ADMIN_TOKEN, or listen on 127.0.0.1`,
        ['admin', 'listen'],
      );
    }
    const gatewayListen = this.#listen('gateway', DEFAULT_GATEWAY_LISTEN);
    if (gatewayListen === undefined || !isRecord(this.#raw.gateway)) return;
    if (listen.port === 0 || listen.port !== gatewayListen.port) return;
    const isAny = (host: string) => host === '0.0.0.0' || host === '::';
    const hosts = [listen.host.toLowerCase(), gatewayListen.host.toLowerCase()];
    if (hosts[0] !== hosts[1] && !hosts.some(isAny)) return;
    const path: DocumentPath = isListenGiven ? ['admin', 'listen'] : ['gateway', 'listen'];
    this.#add(
      ErrorCodes.CONFIG_CONFLICT,
      `admin.listen ${formatListenAddress(listen)} and gateway.listen ${formatListenAddress(gatewayListen)} cannot share a port; give them different ports`,
      path,
    );
  }
}

/** Add every cross-value problem of the gateway sections of `raw` to `issues`. */
export function checkConfigSections(
  raw: Record<string, unknown>,
  positions: SourcePositions,
  issues: IssueList,
): void {
  new SectionChecks(raw, positions, issues).run();
}
