import { generateKeyPairSync } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { type ErrorCode, ErrorCodes } from '../../errors.js';
import { loadPolicy } from '../../policy/load-policy.js';
import {
  formatPolicyIssue,
  type PolicyIssue,
  PolicyLoadError,
} from '../../policy/policy-load-error.js';
import type { Env } from './env-value.js';
import { GatewayConfigError } from './gateway-config-error.js';
import { loadGatewayConfig } from './load-gateway-config.js';
import { Secret } from './secret.js';

/** A YAML document from lines, so line numbers in tests are easy to read. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

/** A valid policy (lines 1-3): a test appends its own sections after it. */
const HEAD = ['version: 1', 'policy:', '  defaults: { idle: 15m, absolute: 8h }'];

/** The smallest valid gateway section (lines 4-6 after HEAD). */
const ROUTES = ['gateway:', '  routes:', '    - { path: /, upstream: "http://127.0.0.1:3000" }'];

const PUBLIC_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

/** Secrets no output may ever show. */
const ADMIN_TOKEN = 'S3CR3T-admin-token-7d1f0c9e';
const REDIS_PASSWORD = 'S3CR3T-redis-password-a83b';
const JWT_SECRET = 'S3CR3T-jwt-hmac-secret-0123456789abcdef';
const MARKER = 'S3CR3T';

const ENV: Env = {
  LAPSE_ADMIN_TOKEN: ADMIN_TOKEN,
  REDIS_URL: `redis://:${REDIS_PASSWORD}@cache.internal:6379/2`,
  JWT_SECRET,
  JWT_PUBLIC_KEY: PUBLIC_KEY,
  EMPTY: '',
};

function loadError(text: string, env: Env = ENV): GatewayConfigError {
  try {
    loadGatewayConfig(text, 'lapse.yaml', env);
  } catch (error) {
    if (error instanceof GatewayConfigError) return error;
    throw error;
  }
  throw new Error('expected the config to fail to load');
}

/** The one issue of a file that has exactly one problem. */
function onlyIssue(text: string, env: Env = ENV): PolicyIssue {
  const { issues } = loadError(text, env);
  expect(issues.map(formatPolicyIssue)).toHaveLength(1);
  const [issue] = issues;
  if (issue === undefined) throw new Error('unreachable');
  return issue;
}

/** The config with every Secret replaced by what it holds, to compare whole objects. */
function reveal(value: unknown): unknown {
  if (value instanceof Secret) return { secret: value.value() };
  if (Array.isArray(value)) return value.map(reveal);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, reveal(entry)]));
  }
  return value;
}

function isDeeplyFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeeplyFrozen);
}

const FULL = yaml(
  ...HEAD,
  'store:', // 4
  '  type: redis',
  '  url: env:REDIS_URL',
  '  keyPrefix: "acme:"',
  'identity:', // 8
  '  mode: jwt',
  '  issuer: https://id.example.com',
  '  audience: [app, api]',
  '  algorithms: [ES256, RS256, ES256]',
  '  publicKey: env:JWT_PUBLIC_KEY',
  '  cookie: id_token',
  '  claims: { roles: groups, userType: kind }',
  'gateway:', // 16
  '  listen: 0.0.0.0:8443',
  '  loginUrl: /signin?from=lapse',
  '  public: ["/assets/**", "/favicon.ico"]',
  '  routes:',
  '    - { path: /, upstream: "http://127.0.0.1:3000", environment: production, app: web, injectClient: true }',
  '    - path: /api',
  '      host: API.example.com:8443',
  '      upstream: https://api.internal:8443/v1',
  '      wsActivity: both',
  '  limits: { maxHeaderBytes: 32768, maxBodyBytes: 1048576, upstreamTimeout: 45s }',
  '  development: true',
  'admin:', // 28
  '  listen: "[::]:7778"',
  '  token: env:LAPSE_ADMIN_TOKEN',
);

describe('loadGatewayConfig: a valid file', () => {
  it('loads every section of a full file to the exact expected object', () => {
    const config = loadGatewayConfig(FULL, 'lapse.yaml', ENV);
    expect(reveal(config)).toStrictEqual({
      file: 'lapse.yaml',
      policy: reveal(loadPolicy(FULL, 'lapse.yaml')),
      store: {
        type: 'redis',
        url: { secret: `redis://:${REDIS_PASSWORD}@cache.internal:6379/2` },
        keyPrefix: 'acme:',
      },
      identity: {
        mode: 'jwt',
        issuer: ['https://id.example.com'],
        audience: ['app', 'api'],
        algorithms: ['ES256', 'RS256'],
        publicKey: PUBLIC_KEY,
        cookie: 'id_token',
        claims: { roles: 'groups', userType: 'kind' },
      },
      gateway: {
        listen: { host: '0.0.0.0', port: 8443 },
        loginUrl: '/signin?from=lapse',
        public: ['/assets/**', '/favicon.ico'],
        routes: [
          {
            path: '/',
            upstream: 'http://127.0.0.1:3000',
            environment: 'production',
            app: 'web',
            injectClient: true,
            wsActivity: 'client',
          },
          {
            path: '/api',
            host: 'api.example.com:8443',
            upstream: 'https://api.internal:8443/v1',
            injectClient: false,
            wsActivity: 'both',
          },
        ],
        limits: { maxHeaderBytes: 32_768, maxBodyBytes: 1_048_576, upstreamTimeoutMs: 45_000 },
        development: true,
      },
      admin: {
        listen: { host: '::', port: 7778 },
        token: { secret: ADMIN_TOKEN },
        audit: 'stdout',
      },
    });
    expect(config.policy).toEqual(loadPolicy(FULL, 'lapse.yaml'));
    expect(config.store.type === 'redis' && config.store.url).toBeInstanceOf(Secret);
  });

  it('is deeply frozen', () => {
    const config = loadGatewayConfig(FULL, 'lapse.yaml', ENV);
    expect(isDeeplyFrozen(config)).toBe(true);
    expect(() => {
      (config.gateway.routes as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('fills every default when store, identity and admin are left out', () => {
    const config = loadGatewayConfig(yaml(...HEAD, ...ROUTES), 'lapse.yaml', {});
    expect(reveal(config)).toStrictEqual({
      file: 'lapse.yaml',
      policy: reveal(loadPolicy(yaml(...HEAD), 'lapse.yaml')),
      store: { type: 'sqlite', path: './lapse.db' },
      identity: { mode: 'upstream' },
      gateway: {
        listen: { host: '127.0.0.1', port: 8080 },
        loginUrl: '/login',
        public: [],
        routes: [
          {
            path: '/',
            upstream: 'http://127.0.0.1:3000',
            injectClient: false,
            wsActivity: 'client',
          },
        ],
        limits: { maxHeaderBytes: 16_384, maxBodyBytes: 10_485_760, upstreamTimeoutMs: 30_000 },
        development: false,
      },
      admin: { listen: { host: '127.0.0.1', port: 7778 }, audit: 'stdout' },
    });
  });

  it('treats empty sections as left out', () => {
    const config = loadGatewayConfig(
      yaml(...HEAD, 'store:', 'identity:', 'admin:', ...ROUTES, '  limits:', '  public:'),
      'lapse.yaml',
      {},
    );
    expect(config.store).toEqual({ type: 'sqlite', path: './lapse.db' });
    expect(config.identity).toEqual({ mode: 'upstream' });
    expect(config.admin).toEqual({ listen: { host: '127.0.0.1', port: 7778 }, audit: 'stdout' });
    expect(config.gateway.limits.upstreamTimeoutMs).toBe(30_000);
    expect(config.gateway.public).toEqual([]);
  });

  it('fills the defaults of each store type', () => {
    const load = (store: string) =>
      loadGatewayConfig(yaml(...HEAD, store, ...ROUTES), 'lapse.yaml', ENV).store;
    expect(load('store: { type: memory }')).toEqual({ type: 'memory' });
    expect(load('store: { type: sqlite }')).toEqual({ type: 'sqlite', path: './lapse.db' });
    expect(load('store: { type: sqlite, path: /var/lib/lapse/s.db }')).toEqual({
      type: 'sqlite',
      path: '/var/lib/lapse/s.db',
    });
    const redis = load('store: { type: redis, url: "redis://127.0.0.1:6379" }');
    expect(redis).toMatchObject({ type: 'redis', keyPrefix: 'lapse:' });
    expect(redis.type === 'redis' && redis.url.value()).toBe('redis://127.0.0.1:6379');
  });

  it('defaults the JWT algorithms to HS256 with a secret and RS256 with a public key or JWKS', () => {
    const identity = (source: string) =>
      loadGatewayConfig(
        yaml(...HEAD, `identity: { mode: jwt, issuer: i, audience: a, ${source} }`, ...ROUTES),
        'lapse.yaml',
        ENV,
      ).identity;
    expect(identity('secret: env:JWT_SECRET')).toMatchObject({ algorithms: ['HS256'] });
    expect(identity('publicKey: env:JWT_PUBLIC_KEY')).toMatchObject({ algorithms: ['RS256'] });
    expect(identity('jwksUrl: "https://id.example.com/jwks.json"')).toStrictEqual({
      mode: 'jwt',
      issuer: ['i'],
      audience: ['a'],
      algorithms: ['RS256'],
      jwksUrl: 'https://id.example.com/jwks.json',
      claims: { roles: 'roles', userType: 'user_type' },
    });
  });

  it('reads env:NAME from process.env when no env is given', () => {
    vi.stubEnv('LAPSE_TEST_ADMIN_TOKEN', ADMIN_TOKEN);
    try {
      const config = loadGatewayConfig(
        yaml(...HEAD, ...ROUTES, 'admin: { token: env:LAPSE_TEST_ADMIN_TOKEN }'),
        'lapse.yaml',
      );
      expect(config.admin.token?.value()).toBe(ADMIN_TOKEN);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('accepts a literal admin token on a listener beyond loopback', () => {
    const config = loadGatewayConfig(
      yaml(...HEAD, ...ROUTES, `admin: { listen: 0.0.0.0:7778, token: ${ADMIN_TOKEN} }`),
      'lapse.yaml',
      {},
    );
    expect(config.admin.token?.value()).toBe(ADMIN_TOKEN);
  });
});

describe('loadGatewayConfig: every problem has a code and a position', () => {
  it.each<[string, string[], number, number]>([
    ['store', ['store: { type: memory, pth: x }', ...ROUTES], 4, 24],
    ['identity', ['identity:', '  mode: upstream', '  issur: x', ...ROUTES], 6, 3],
    [
      'identity.claims',
      [
        'identity: { mode: jwt, issuer: i, audience: a, secret: env:JWT_SECRET, claims: { role: x } }',
        ...ROUTES,
      ],
      4,
      82,
    ],
    ['gateway', ['gateway:', '  routes: [{ path: /, upstream: "http://a" }]', '  listn: x'], 6, 3],
    [
      'a route',
      ['gateway:', '  routes:', '    - { path: /, upstream: "http://a", env: p }'],
      6,
      40,
    ],
    [
      'gateway.limits',
      ['gateway:', '  routes: [{ path: /, upstream: "http://a" }]', '  limits: { timeout: 1s }'],
      6,
      13,
    ],
    ['admin', [...ROUTES, 'admin: { listen: 127.0.0.1:7778, tokn: x }'], 7, 34],
  ])('reports an unknown key in %s at the key', (_, lines, line, column) => {
    expect(onlyIssue(yaml(...HEAD, ...lines))).toMatchObject({
      code: ErrorCodes.POLICY_UNKNOWN_KEY,
      line,
      column,
    });
  });

  it('takes the audit destination and a salt from the environment, never quoting a short salt', () => {
    const config = loadGatewayConfig(
      yaml(...HEAD, ...ROUTES, 'admin: { audit: ./audit.log, auditSalt: env:SALT }'),
      'lapse.yaml',
      { SALT: 'a-salt-of-sixteen-or-more' },
    );
    expect(config.admin.audit).toBe('./audit.log');
    expect(config.admin.auditSalt?.value()).toBe('a-salt-of-sixteen-or-more');
    const issue = onlyIssue(yaml(...HEAD, ...ROUTES, 'admin: { auditSalt: short-salt }'));
    expect(issue.path).toEqual(['admin', 'auditSalt']);
    expect(issue.message).not.toContain('short-salt');
  });

  it('suggests the key probably meant and lists the allowed ones', () => {
    const issue = onlyIssue(yaml(...HEAD, ...ROUTES, 'admin: { tokn: x }'));
    expect(issue.message).toBe(
      'unknown key "tokn" in admin; did you mean "token"? (allowed: listen, token, audit, auditSalt)',
    );
    expect(issue.path).toEqual(['admin', 'tokn']);
  });

  it.each<[string, string, ErrorCode, number, number]>([
    ['a listen address without a port', '  listen: localhost', ErrorCodes.POLICY_BAD_VALUE, 7, 11],
    ['a listen port above 65535', '  listen: 127.0.0.1:70000', ErrorCodes.POLICY_BAD_VALUE, 7, 11],
    ['a listen address that is a number', '  listen: 8080', ErrorCodes.POLICY_BAD_VALUE, 7, 11],
    [
      'a login URL on another site',
      '  loginUrl: https://evil.example/login',
      ErrorCodes.POLICY_BAD_VALUE,
      7,
      13,
    ],
    [
      'a protocol-relative login URL',
      '  loginUrl: //evil.example',
      ErrorCodes.POLICY_BAD_VALUE,
      7,
      13,
    ],
    [
      'a login URL under /_lapse/',
      '  loginUrl: /_lapse/status',
      ErrorCodes.POLICY_BAD_VALUE,
      7,
      13,
    ],
    ['a public glob without "/"', '  public: ["assets/**"]', ErrorCodes.POLICY_BAD_VALUE, 7, 12],
    [
      'a bad duration in limits',
      '  limits: { upstreamTimeout: 30 seconds }',
      ErrorCodes.POLICY_BAD_DURATION,
      7,
      30,
    ],
    [
      'upstreamTimeout: off',
      '  limits: { upstreamTimeout: off }',
      ErrorCodes.POLICY_BAD_DURATION,
      7,
      30,
    ],
    [
      'a zero upstreamTimeout',
      '  limits: { upstreamTimeout: 0s }',
      ErrorCodes.POLICY_BAD_DURATION,
      7,
      30,
    ],
    [
      'a fractional byte limit',
      '  limits: { maxBodyBytes: 1.5 }',
      ErrorCodes.POLICY_BAD_VALUE,
      7,
      27,
    ],
    ['a zero byte limit', '  limits: { maxHeaderBytes: 0 }', ErrorCodes.POLICY_BAD_VALUE, 7, 29],
    ['development: yes', '  development: yes', ErrorCodes.POLICY_BAD_VALUE, 7, 16],
  ])('reports %s at the value', (_, line7, code, line, column) => {
    expect(onlyIssue(yaml(...HEAD, ...ROUTES, line7))).toMatchObject({ code, line, column });
  });

  it.each<[string, string, number]>([
    ['not a URL', 'upstream: "localhost:3000"', 31],
    ['another protocol', 'upstream: "ftp://files.internal"', 31],
    ['a URL with a password', 'upstream: "http://user:pw@app.internal"', 31],
    ['a URL with a query', 'upstream: "http://app.internal/?a=1"', 31],
    ['a number', 'upstream: 3000', 31],
  ])('reports an upstream that is %s at the value', (_, upstream, column) => {
    const text = yaml(...HEAD, 'gateway:', '  routes:', `    - { path: /app, ${upstream} }`);
    expect(onlyIssue(text)).toMatchObject({ code: ErrorCodes.POLICY_BAD_VALUE, line: 6, column });
  });

  it.each([
    ['api', 'does not start with a single "/"'],
    ['//api', 'does not start with a single "/"'],
    ['/api/*', 'plain path prefix'],
    ['/_lapse/status', 'answered by lapse itself'],
  ])('reports the route path %j at the value', (path, phrase) => {
    const text = yaml(
      ...HEAD,
      'gateway:',
      '  routes:',
      `    - upstream: "http://a"`,
      `      path: "${path}"`,
    );
    const issue = onlyIssue(text);
    expect(issue).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 7,
      column: 13,
      path: ['gateway', 'routes', 0, 'path'],
    });
    expect(issue.message).toContain(phrase);
  });

  it('reports a route without upstream and a route host that is not a host name', () => {
    const issues = loadError(
      yaml(
        ...HEAD,
        'gateway:',
        '  routes:',
        '    - { path: /a }',
        '    - { path: /b, host: "a b", upstream: "http://b" }',
      ),
    ).issues;
    expect(issues).toMatchObject([
      {
        code: ErrorCodes.POLICY_MISSING_KEY,
        line: 6,
        column: 7,
        path: ['gateway', 'routes', 0, 'upstream'],
      },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 7, column: 25 },
    ]);
  });

  it('reports a file without a gateway section, and a gateway without routes', () => {
    expect(onlyIssue(yaml(...HEAD))).toMatchObject({
      code: ErrorCodes.POLICY_MISSING_KEY,
      line: 1,
      column: 1,
      message:
        'the file has no gateway section: lapse serve needs gateway.routes, the upstreams to forward requests to',
    });
    expect(onlyIssue(yaml(...HEAD, 'gateway:', '  listen: 127.0.0.1:8080'))).toMatchObject({
      code: ErrorCodes.POLICY_MISSING_KEY,
      line: 5,
      column: 3,
      path: ['gateway', 'routes'],
    });
    expect(onlyIssue(yaml(...HEAD, 'gateway:', '  routes: []'))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 5,
      column: 11,
    });
  });

  it('reports two routes for one path and host at the second', () => {
    const issue = onlyIssue(
      yaml(...HEAD, ...ROUTES, '    - { path: /, upstream: "http://other" }'),
    );
    expect(issue).toMatchObject({ code: ErrorCodes.CONFIG_CONFLICT, line: 7, column: 15 });
    expect(issue.message).toContain('already routed by gateway.routes[0] on line 6');
  });

  it('reports a jwt identity with two key sources at the second, naming the first', () => {
    const issue = onlyIssue(
      yaml(
        ...HEAD,
        ...ROUTES,
        'identity:',
        '  mode: jwt',
        '  issuer: https://id.example.com',
        '  audience: app',
        '  jwksUrl: https://id.example.com/jwks.json',
        '  secret: env:JWT_SECRET',
      ),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.CONFIG_CONFLICT,
      line: 12,
      column: 3,
      path: ['identity', 'secret'],
    });
    expect(issue.message).toBe(
      'identity.secret: give exactly one of jwksUrl, publicKey or secret; identity.jwksUrl is already given on line 11',
    );
  });

  it('reports a jwt identity without issuer, audience or key source at the section', () => {
    const issues = loadError(yaml(...HEAD, ...ROUTES, 'identity:', '  mode: jwt')).issues;
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.POLICY_MISSING_KEY, line: 8, column: 3 },
      { code: ErrorCodes.POLICY_MISSING_KEY, line: 8, column: 3 },
      { code: ErrorCodes.POLICY_MISSING_KEY, line: 8, column: 3 },
    ]);
  });

  it('reports algorithms the key source cannot verify', () => {
    const text = (source: string, algorithms: string) =>
      yaml(
        ...HEAD,
        ...ROUTES,
        `identity: { mode: jwt, issuer: i, audience: a, ${source}, algorithms: ${algorithms} }`,
      );
    expect(onlyIssue(text('secret: env:JWT_SECRET', '[HS256, RS256]'))).toMatchObject({
      code: ErrorCodes.CONFIG_CONFLICT,
      line: 7,
      column: 84,
    });
    expect(onlyIssue(text('publicKey: env:JWT_PUBLIC_KEY', 'HS256'))).toMatchObject({
      code: ErrorCodes.CONFIG_CONFLICT,
      line: 7,
      column: 91,
    });
    expect(onlyIssue(text('jwksUrl: "https://i/jwks"', '[none]'))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 7,
      column: 88,
    });
  });

  it('reports JWT settings with mode: upstream, and store settings of another store type', () => {
    const issues = loadError(
      yaml(
        ...HEAD,
        ...ROUTES,
        'identity: { mode: upstream, issuer: i }',
        'store: { type: memory, path: x.db, keyPrefix: "p:" }',
      ),
    ).issues;
    expect(issues).toMatchObject([
      { code: ErrorCodes.CONFIG_CONFLICT, line: 7, column: 29, path: ['identity', 'issuer'] },
      { code: ErrorCodes.CONFIG_CONFLICT, line: 8, column: 24, path: ['store', 'path'] },
      { code: ErrorCodes.CONFIG_CONFLICT, line: 8, column: 36, path: ['store', 'keyPrefix'] },
    ]);
  });

  it('reports a redis store without url at the store', () => {
    expect(onlyIssue(yaml(...HEAD, 'store:', '  type: redis', ...ROUTES))).toMatchObject({
      code: ErrorCodes.POLICY_MISSING_KEY,
      line: 5,
      column: 3,
      path: ['store', 'url'],
    });
  });

  it('reports a store type it does not know at the value', () => {
    const issue = onlyIssue(yaml(...HEAD, 'store: { type: postgres }', ...ROUTES));
    expect(issue).toMatchObject({ code: ErrorCodes.POLICY_BAD_VALUE, line: 4, column: 16 });
    expect(issue.message).toBe('store.type must be memory, sqlite or redis, got "postgres"');
  });

  it('reports a missing environment variable at the value, naming it', () => {
    const issue = onlyIssue(
      yaml(...HEAD, ...ROUTES, 'admin:', '  token: env:LAPSE_ADMIN_TOKEN_MISSING'),
    );
    expect(issue).toMatchObject({
      code: ErrorCodes.CONFIG_ENV_MISSING,
      line: 8,
      column: 10,
      path: ['admin', 'token'],
    });
    expect(issue.message).toBe(
      'admin.token: the environment variable LAPSE_ADMIN_TOKEN_MISSING is not set: set it to an admin token',
    );
  });

  it('reports an empty environment variable, and every missing one at once', () => {
    const issues = loadError(
      yaml(
        'store: { type: redis, url: env:NO_REDIS }',
        ...HEAD,
        ...ROUTES,
        'admin: { listen: 0.0.0.0:7778, token: env:EMPTY }',
      ),
    ).issues;
    expect(issues).toMatchObject([
      { code: ErrorCodes.CONFIG_ENV_MISSING, line: 1, column: 28 },
      { code: ErrorCodes.CONFIG_ENV_MISSING, line: 8, column: 39 },
    ]);
    expect(issues[0]?.message).toContain('NO_REDIS is not set');
    expect(issues[1]?.message).toContain('EMPTY is empty');
  });

  it('reports env: with no variable name', () => {
    expect(onlyIssue(yaml(...HEAD, ...ROUTES, 'admin: { token: "env:" }'))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 7,
      column: 17,
    });
  });

  it.each(['0.0.0.0:7778', '"[::]:7778"', '10.1.2.3:7778', 'admin.internal:7778'])(
    'reports an admin listener on %s without a token at the listen address',
    (listen) => {
      const issue = onlyIssue(yaml(...HEAD, ...ROUTES, 'admin:', `  listen: ${listen}`));
      expect(issue).toMatchObject({
        code: ErrorCodes.CONFIG_ADMIN_UNPROTECTED,
        line: 8,
        column: 11,
        path: ['admin', 'listen'],
      });
    },
  );

  it('allows an admin listener on loopback without a token', () => {
    for (const listen of ['127.0.0.1:7778', 'localhost:7778', '"[::1]:7778"']) {
      const config = loadGatewayConfig(
        yaml(...HEAD, ...ROUTES, `admin: { listen: ${listen} }`),
        'f',
        {},
      );
      expect(config.admin.token).toBeUndefined();
    }
  });

  it('reports an admin token too short to be safe', () => {
    expect(onlyIssue(yaml(...HEAD, ...ROUTES, 'admin: { token: short }'))).toMatchObject({
      code: ErrorCodes.POLICY_BAD_VALUE,
      line: 7,
      column: 17,
    });
  });

  it('reports the admin and gateway listeners on one port', () => {
    expect(
      onlyIssue(
        yaml(...HEAD, ...ROUTES, '  listen: 0.0.0.0:9000', `admin: { listen: 127.0.0.1:9000 }`),
      ),
    ).toMatchObject({ code: ErrorCodes.CONFIG_CONFLICT, line: 8, column: 18 });
    expect(onlyIssue(yaml(...HEAD, ...ROUTES, '  listen: 127.0.0.1:7778'))).toMatchObject({
      code: ErrorCodes.CONFIG_CONFLICT,
      line: 7,
      column: 11,
    });
  });

  it('throws one GatewayConfigError with code LAPSE_CONFIG_INVALID, positioned at the first issue', () => {
    const error = loadError(yaml(...HEAD, ...ROUTES, '  listen: nowhere', 'admin: { tokn: x }'));
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.name).toBe('GatewayConfigError');
    expect([error.file, error.line, error.column]).toEqual(['lapse.yaml', 7, 11]);
    expect(error.message.split('\n')).toEqual(error.issues.map(formatPolicyIssue));
    expect(error.message.split('\n')).toHaveLength(2);
  });
});

describe('loadGatewayConfig: the policy and the gateway sections together', () => {
  const policyIssues = (text: string): readonly PolicyIssue[] => {
    try {
      loadPolicy(text, 'lapse.yaml');
    } catch (error) {
      if (error instanceof PolicyLoadError) return error.issues;
      throw error;
    }
    return [];
  };

  it('reports a policy error and gateway errors in one list, in position order', () => {
    const text = yaml(
      'admin: { listen: 0.0.0.0:7778 }', // 1: gateway issue
      'version: 1',
      'policy:',
      '  defaults: { idle: 15x, absolute: 8h }', // 4: policy issue
      ...ROUTES.slice(0, 2),
      '    - { path: api, upstream: "http://a" }', // 7: gateway issue
      'polcy: {}', // 8: policy issue (unknown top-level key)
    );
    const { issues } = loadError(text);
    expect(issues.map(({ code, line, column }) => ({ code, line, column }))).toEqual([
      { code: ErrorCodes.CONFIG_ADMIN_UNPROTECTED, line: 1, column: 18 },
      { code: ErrorCodes.POLICY_BAD_DURATION, line: 4, column: 21 },
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 7, column: 15 },
      { code: ErrorCodes.POLICY_UNKNOWN_KEY, line: 8, column: 1 },
    ]);
    for (const issue of policyIssues(text)) expect(issues).toContainEqual(issue);
  });

  it('reports the policy issues exactly as loadPolicy does', () => {
    const text = yaml(
      'version: 2',
      'policy:',
      '  defaults: { idle: off, absolute: 0s }',
      ...ROUTES,
    );
    const expected = policyIssues(text);
    expect(expected.length).toBeGreaterThan(0);
    expect(loadError(text).issues).toEqual(expected);
  });

  it('reports only the syntax error of a file that is not YAML', () => {
    const text = yaml(...HEAD, ...ROUTES, 'admin: { listen: [ }');
    expect(loadError(text).issues).toEqual(policyIssues(text));
  });

  it('reports a file over 1 MiB once, as loadPolicy does', () => {
    const text = `${yaml(...HEAD, ...ROUTES)}#${'x'.repeat(1024 * 1024)}\n`;
    expect(loadError(text).issues).toEqual(policyIssues(text));
  });
});

describe('loadGatewayConfig: secrets never show', () => {
  const config = loadGatewayConfig(
    yaml(
      ...HEAD,
      'store: { type: redis, url: env:REDIS_URL }',
      'identity: { mode: jwt, issuer: i, audience: a, secret: env:JWT_SECRET }',
      ...ROUTES,
      'admin: { listen: 0.0.0.0:7778, token: env:LAPSE_ADMIN_TOKEN }',
    ),
    'lapse.yaml',
    ENV,
  );

  it('keeps them out of JSON, String and util.inspect', () => {
    expect(JSON.stringify(config)).not.toContain(MARKER);
    expect(String(config.admin.token)).toBe('[secret]');
    expect(`${config.admin.token}`).toBe('[secret]');
    expect(inspect(config, { depth: 10 })).not.toContain(MARKER);
    expect(inspect(config, { depth: 10, showHidden: true })).not.toContain(MARKER);
    expect(String(config)).not.toContain(MARKER);
  });

  it('hands them out through value()', () => {
    expect(config.admin.token?.value()).toBe(ADMIN_TOKEN);
    expect(config.identity.mode === 'jwt' && config.identity.secret?.value()).toBe(JWT_SECRET);
    expect(config.store.type === 'redis' && config.store.url.value()).toContain(REDIS_PASSWORD);
  });

  it.each<[string, string[], Env]>([
    ['an admin token too short', ['admin: { token: S3CR3T }'], {}],
    ['an admin token with a space', [`admin: { token: "${MARKER} with spaces inside" }`], {}],
    ['an admin token from the environment, too short', ['admin: { token: env:T }'], { T: MARKER }],
    ['a redis URL that is not a URL', [`store: { type: redis, url: "${MARKER} nope" }`], {}],
    [
      'a redis URL of another protocol',
      [`store: { type: redis, url: "http://u:${MARKER}@h" }`],
      {},
    ],
    ['a redis URL on a sqlite store', [`store: { type: sqlite, url: "redis://:${MARKER}@h" }`], {}],
    [
      'a JWT secret too short',
      [`identity: { mode: jwt, issuer: i, audience: a, secret: ${MARKER} }`],
      {},
    ],
    [
      'a JWT secret with mode: upstream',
      [`identity: { mode: upstream, secret: ${MARKER}-0123456789012345678901234567 }`],
      {},
    ],
    [
      'two JWT key sources',
      [`identity: { mode: jwt, issuer: i, audience: a, secret: env:S, jwksUrl: "https://k" }`],
      { S: `${MARKER}-0123456789012345678901234567` },
    ],
    [
      'a public key that is a private key',
      ['identity: { mode: jwt, issuer: i, audience: a, publicKey: env:K }'],
      { K: `-----BEGIN PRIVATE KEY-----\n${MARKER}\n-----END PRIVATE KEY-----` },
    ],
    [
      'an upstream with a password',
      [`gateway: { routes: [{ path: /, upstream: "http://u:${MARKER}@h" }] }`],
      {},
    ],
    [
      'an upstream that is not a URL',
      [`gateway: { routes: [{ path: /, upstream: "${MARKER} x" }] }`],
      {},
    ],
    [
      'an unprotected admin listener with a bad token key',
      [`admin: { listen: 0.0.0.0:1, tokn: ${MARKER} }`],
      {},
    ],
    ['a token whose line lost its ":"', [`admin: { token "${MARKER}-0123456789abcdef" }`], {}],
    [
      'a token that lost its opening quote after *',
      ['admin:', `  token: *${MARKER}-0123456789abcdef"`],
      {},
    ],
    ['a token after a block scalar header', ['admin:', `  token: |${MARKER}-0123456789abcdef`], {}],
    ['a token followed by a stray ]', ['admin:', `  token: "${MARKER}-0123456789abcdef"]`], {}],
    ['a long secret written as a key', [`${MARKER}-0123456789abcdef: 1`], {}],
    ['a store that is a string', [`store: "redis://:${MARKER}@cache:6379"`], {}],
  ])('keeps them out of the error for %s', (_, lines, env) => {
    const hasGateway = lines.some((line) => line.startsWith('gateway:'));
    const error = loadError(yaml(...HEAD, ...(hasGateway ? [] : ROUTES), ...lines), env);
    expect(error.message).not.toContain(MARKER);
    expect(String(error.stack)).not.toContain(MARKER);
    expect(JSON.stringify(error.issues)).not.toContain(MARKER);
    expect(inspect(error, { depth: 10 })).not.toContain(MARKER);
  });

  it('keeps a numeric secret out of the error', () => {
    const error = loadError(yaml(...HEAD, ...ROUTES, 'admin: { token: 987654321987654 }'), {});
    expect(error.issues).toMatchObject([
      { code: ErrorCodes.POLICY_BAD_VALUE, line: 7, column: 17 },
    ]);
    expect(error.message).not.toContain('987654321987654');
  });
});
