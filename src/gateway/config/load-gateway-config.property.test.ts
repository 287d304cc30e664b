import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mutate, mutation, YAML_ALPHABET } from '../../../test/helpers/text-mutations.js';
import { ErrorCodes } from '../../errors.js';
import type { Env } from './env-value.js';
import { GatewayConfigError } from './gateway-config-error.js';
import { loadGatewayConfig } from './load-gateway-config.js';

const MARKER = 'S3CR3T';
const LONG_SECRET = `${MARKER}-0123456789abcdef0123456789abcdef`;
const ENV: Env = { LONG: LONG_SECRET, SHORT: MARKER, EMPTY: '' };

/**
 * Load `text`: a config comes back, or a GatewayConfigError with sound issues;
 * nothing else. With `hidesSecrets`, no output shows the secret marker (not
 * asked of mangled files, which can move a secret's text into a setting whose
 * value messages quote).
 */
function loadsOrFailsCleanly(text: string, hidesSecrets = true): void {
  let error: unknown;
  try {
    const config = loadGatewayConfig(text, 'lapse.yaml', ENV);
    expect(Object.isFrozen(config)).toBe(true);
    if (hidesSecrets) expect(JSON.stringify(config)).not.toContain(MARKER);
    return;
  } catch (caught) {
    error = caught;
  }
  if (!(error instanceof GatewayConfigError)) throw error;
  expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
  if (hidesSecrets) expect(`${error.message}${JSON.stringify(error.issues)}`).not.toContain(MARKER);
  const lineCount = text.split(/\r\n|\r|\n/).length;
  let previous = { line: 1, column: 1 };
  for (const issue of error.issues) {
    expect(issue.line).toBeGreaterThanOrEqual(1);
    expect(issue.line).toBeLessThanOrEqual(lineCount);
    expect(issue.column).toBeGreaterThanOrEqual(1);
    expect(issue.message).not.toContain('\n');
    expect(Object.values(ErrorCodes)).toContain(issue.code);
    const isOrdered =
      issue.line > previous.line ||
      (issue.line === previous.line && issue.column >= previous.column);
    expect(isOrdered).toBe(true);
    previous = issue;
  }
}

const VALID = `version: 1
policy:
  defaults: { idle: 15m, absolute: 8h }
store: { type: redis, url: "redis://:${MARKER}@cache:6379", keyPrefix: "acme:" }
identity:
  mode: jwt
  issuer: https://id.example.com
  audience: [app]
  secret: env:LONG
  claims: { roles: groups }
gateway:
  listen: 0.0.0.0:8443
  loginUrl: /login
  public: ["/assets/**"]
  routes:
    - { path: /, upstream: "http://127.0.0.1:3000", environment: production, injectClient: true }
    - { path: /ws, host: app.example.com, upstream: "http://127.0.0.1:3001", wsActivity: both }
  limits: { maxHeaderBytes: 32768, upstreamTimeout: 45s }
admin:
  listen: 0.0.0.0:7778
  token: "${LONG_SECRET}"
`;

/** A value for a setting: likely-valid ones, near misses, and anything at all. */
const value = (...plausible: unknown[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...plausible) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  );

/** A value for a secret setting: may be literal secrets, env references, or junk (never echoed). */
const secretValue = value(
  LONG_SECRET,
  MARKER,
  'env:LONG',
  'env:SHORT',
  'env:EMPTY',
  'env:NONE',
  'env:',
  42,
  null,
);

/** Leave a key out, or give it. */
const maybe = (arbitrary: fc.Arbitrary<unknown>) => fc.option(arbitrary, { nil: undefined });

const storeArbitrary = fc.record({
  type: maybe(value('memory', 'sqlite', 'redis', 'postgres')),
  path: maybe(value('./lapse.db', '', ':memory:')),
  url: maybe(secretValue),
  keyPrefix: maybe(value('lapse:', '')),
});

const identityArbitrary = fc.record({
  mode: maybe(value('upstream', 'jwt', 'oidc')),
  issuer: maybe(value('https://id', ['a', 'b'], [])),
  audience: maybe(value('app', [''])),
  algorithms: maybe(value('RS256', ['HS256'], ['ES256', 'none'], 'HS512')),
  jwksUrl: maybe(value('https://id/jwks', 'http://localhost/jwks', 'http://evil/jwks', 'nope')),
  publicKey: maybe(secretValue),
  secret: maybe(secretValue),
  cookie: maybe(value('id_token', 'bad name')),
  claims: maybe(value({ roles: 'groups' }, { role: 'x' }, null)),
});

const routeArbitrary = fc.record({
  path: maybe(value('/', '/api', 'api', '/_lapse/x', '/a*')),
  host: maybe(value('app.example.com', 'APP.example.com:8443', 'a b', '[::1]:80')),
  upstream: maybe(value('http://127.0.0.1:3000', 'https://api/v1', 'ftp://x', 'nope', 3000)),
  environment: maybe(value('production', '')),
  injectClient: maybe(value(true, false, 'yes')),
  wsActivity: maybe(value('client', 'both', 'server')),
});

const gatewayArbitrary = fc.record({
  listen: maybe(value('127.0.0.1:8080', '0.0.0.0:7778', '[::]:8080', 'localhost', 8080)),
  loginUrl: maybe(value('/login', '//evil', 'https://evil', '/_lapse/x')),
  public: maybe(value(['/assets/**'], ['assets'], [])),
  routes: maybe(
    fc.oneof(fc.array(routeArbitrary, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
  ),
  limits: maybe(
    fc.record({
      maxHeaderBytes: maybe(value(16384, 0, 1.5, '16kb')),
      maxBodyBytes: maybe(value(1024, -1)),
      upstreamTimeout: maybe(value('30s', '0s', 'off', '5x', 10, true)),
    }),
  ),
  development: maybe(value(true, false, 'yes')),
});

const adminArbitrary = fc.record({
  listen: maybe(value('127.0.0.1:7778', '0.0.0.0:7778', '127.0.0.1:8080', 'nope')),
  token: maybe(secretValue),
});

/** JSON text (YAML 1.2) of a file, with `undefined` keys dropped by JSON.stringify. */
const documentArbitrary = fc
  .record({
    store: maybe(fc.oneof(storeArbitrary, fc.jsonValue({ maxDepth: 1 }))),
    identity: maybe(fc.oneof(identityArbitrary, fc.jsonValue({ maxDepth: 1 }))),
    gateway: maybe(gatewayArbitrary),
    admin: maybe(adminArbitrary),
    policyIsBroken: fc.boolean(),
  })
  .map(({ policyIsBroken, ...sections }) =>
    JSON.stringify(
      {
        version: 1,
        policy: { defaults: { idle: policyIsBroken ? '15x' : '15m', absolute: '8h' } },
        ...sections,
      },
      null,
      2,
    ),
  );

describe('loadGatewayConfig: fuzzed input', () => {
  it('returns or throws GatewayConfigError for arbitrary text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.string({ unit: fc.constantFrom(...YAML_ALPHABET), maxLength: 300 }),
        ),
        (text) => loadsOrFailsCleanly(text),
      ),
      { numRuns: 300 },
    );
  });

  it('returns or throws GatewayConfigError for mutations of a valid file', () => {
    loadsOrFailsCleanly(VALID);
    expect(() => loadGatewayConfig(VALID, 'lapse.yaml', ENV)).not.toThrow();
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        loadsOrFailsCleanly(mutate(VALID, mutations), false);
      }),
      { numRuns: 500 },
    );
  });

  it('returns or throws GatewayConfigError for random section values, never showing a secret', () => {
    fc.assert(
      fc.property(documentArbitrary, (text) => loadsOrFailsCleanly(text)),
      { numRuns: 400 },
    );
  });
});
