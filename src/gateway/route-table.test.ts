import { describe, expect, it } from 'vitest';
import { loadGatewayConfig } from './config/load-gateway-config.js';
import type { RouteSection } from './config/types.js';
import { hostnameOf, RouteTable } from './route-table.js';

let nextPort = 3000;

/** A route section as the config loader makes it; each gets its own upstream port, to tell them apart. */
function route(path: string, extra: Partial<RouteSection> = {}): RouteSection {
  nextPort += 1;
  return {
    path,
    upstream: `http://127.0.0.1:${nextPort}`,
    injectClient: false,
    wsActivity: 'client',
    ...extra,
  };
}

/** Every order of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [
      item,
      ...rest,
    ]),
  );
}

describe('RouteTable: path prefixes', () => {
  it('sends a request to the longest matching prefix, whatever order the routes are given in', () => {
    const root = route('/');
    const api = route('/api');
    const v2 = route('/api/v2');
    const admin = route('/admin/');
    for (const order of permutations([root, api, v2, admin])) {
      const table = new RouteTable(order);
      expect(table.match(undefined, '/api/v2/users')?.section).toBe(v2);
      expect(table.match(undefined, '/api/v2')?.section).toBe(v2);
      expect(table.match(undefined, '/api/v1/users')?.section).toBe(api);
      expect(table.match(undefined, '/api')?.section).toBe(api);
      expect(table.match(undefined, '/admin/users')?.section).toBe(admin);
      expect(table.match(undefined, '/other')?.section).toBe(root);
      expect(table.match(undefined, '/')?.section).toBe(root);
    }
  });

  it('matches /app for /app itself and paths under it, never for /apps or /application', () => {
    const app = route('/app');
    const table = new RouteTable([app]);
    expect(table.match(undefined, '/app')?.section).toBe(app);
    expect(table.match(undefined, '/app/')?.section).toBe(app);
    expect(table.match(undefined, '/app/x/y')?.section).toBe(app);
    expect(table.match(undefined, '/apps')).toBeUndefined();
    expect(table.match(undefined, '/application/x')).toBeUndefined();
    expect(table.match(undefined, '/ap')).toBeUndefined();
    expect(table.match(undefined, '/')).toBeUndefined();
  });

  it('reads a prefix with a trailing slash like the same prefix without it', () => {
    const app = route('/app/');
    const table = new RouteTable([app]);
    expect(table.match(undefined, '/app')?.section).toBe(app);
    expect(table.match(undefined, '/app/')?.section).toBe(app);
    expect(table.match(undefined, '/app/x')?.section).toBe(app);
    expect(table.match(undefined, '/apps')).toBeUndefined();
    expect(table.match(undefined, '/apps/x')).toBeUndefined();
  });

  it('sends paths under / to the root route when nothing longer matches', () => {
    const root = route('/');
    const table = new RouteTable([root, route('/api')]);
    expect(table.match(undefined, '/apis')?.section).toBe(root);
    expect(table.match(undefined, '/x/api/y')?.section).toBe(root);
  });

  it('matches paths case-sensitively', () => {
    const table = new RouteTable([route('/api')]);
    expect(table.match(undefined, '/API/x')).toBeUndefined();
  });

  it('answers undefined when no route matches', () => {
    const table = new RouteTable([route('/api'), route('/app', { host: 'app.example' })]);
    expect(table.match('app.example', '/other')).toBeUndefined();
    expect(table.match('other.example', '/app')).toBeUndefined();
    expect(new RouteTable([]).match('app.example', '/')).toBeUndefined();
  });

  it('lists its routes longest prefix first, a host route before a catch-all of the same prefix', () => {
    const root = route('/');
    const api = route('/api');
    const apiForHost = route('/api', { host: 'api.example' });
    const table = new RouteTable([root, api, apiForHost]);
    expect(table.routes.map((entry) => entry.section)).toStrictEqual([apiForHost, api, root]);
  });
});

describe('RouteTable: hosts', () => {
  it('prefers a host-specific route over a catch-all of the same prefix, in either order', () => {
    const any = route('/');
    const app = route('/', { host: 'app.example' });
    for (const order of [
      [any, app],
      [app, any],
    ]) {
      const table = new RouteTable(order);
      expect(table.match('app.example', '/x')?.section).toBe(app);
      expect(table.match('other.example', '/x')?.section).toBe(any);
    }
  });

  it('prefers a host-specific route over a catch-all whose prefix differs only by a trailing slash', () => {
    // The config accepts both: `/app/` for any host and `/app` for app.example are distinct routes.
    const config = loadGatewayConfig(
      [
        'version: 1',
        'policy:',
        '  defaults: { idle: 15m, absolute: 8h }',
        'gateway:',
        '  routes:',
        '    - { path: /app/, upstream: "http://127.0.0.1:3000" }',
        '    - { path: /app, host: app.example, upstream: "http://127.0.0.1:4000" }',
      ].join('\n'),
      'lapse.yaml',
      {},
    );
    const [any, app] = config.gateway.routes;
    for (const order of [
      [any, app],
      [app, any],
    ]) {
      const table = new RouteTable(order as RouteSection[]);
      expect(table.match('app.example', '/app/x')?.section).toBe(app);
      expect(table.match('other.example', '/app/x')?.section).toBe(any);
    }
  });

  it('still prefers a longer prefix of a catch-all over a shorter one of a host route', () => {
    const app = route('/', { host: 'app.example' });
    const api = route('/api');
    const table = new RouteTable([app, api]);
    expect(table.match('app.example', '/api/x')?.section).toBe(api);
    expect(table.match('app.example', '/x')?.section).toBe(app);
  });

  it('lets a route without a port match its host on any port', () => {
    const app = route('/', { host: 'app.example' });
    const table = new RouteTable([app]);
    expect(table.match('app.example', '/')?.section).toBe(app);
    expect(table.match('app.example:8443', '/')?.section).toBe(app);
    expect(table.match('app.example:80', '/')?.section).toBe(app);
    expect(table.match('app.example.evil', '/')).toBeUndefined();
    expect(table.match('evil.app.example', '/')).toBeUndefined();
  });

  it('lets a route with a port match only that host and port', () => {
    const app = route('/', { host: 'app.example:8443' });
    const table = new RouteTable([app]);
    expect(table.match('app.example:8443', '/')?.section).toBe(app);
    expect(table.match('app.example', '/')).toBeUndefined();
    expect(table.match('app.example:443', '/')).toBeUndefined();
    expect(table.match('app.example:84430', '/')).toBeUndefined();
  });

  it('tells routes of one host on two ports apart', () => {
    const tls = route('/', { host: 'app.example:8443' });
    const plain = route('/', { host: 'app.example:8080' });
    const table = new RouteTable([tls, plain]);
    expect(table.match('app.example:8443', '/')?.section).toBe(tls);
    expect(table.match('app.example:8080', '/')?.section).toBe(plain);
    expect(table.match('app.example:9000', '/')).toBeUndefined();
  });

  it('matches Host headers case-insensitively and around surrounding whitespace', () => {
    const app = route('/', { host: 'app.example' });
    const withPort = route('/x', { host: 'app.example:8443' });
    const table = new RouteTable([app, withPort]);
    expect(table.match('APP.Example', '/')?.section).toBe(app);
    expect(table.match(' App.EXAMPLE:1234 ', '/')?.section).toBe(app);
    expect(table.match('APP.EXAMPLE:8443', '/x/y')?.section).toBe(withPort);
  });

  it('matches a route host written in upper case in the config, which lower-cases it', () => {
    const config = loadGatewayConfig(
      [
        'version: 1',
        'policy:',
        '  defaults: { idle: 15m, absolute: 8h }',
        'gateway:',
        '  routes:',
        '    - { path: /, host: App.Example, upstream: "http://127.0.0.1:3000" }',
        '    - { path: /, host: "API.Example:8443", upstream: "http://127.0.0.1:4000" }',
      ].join('\n'),
      'lapse.yaml',
      {},
    );
    const table = new RouteTable(config.gateway.routes);
    expect(table.match('app.example', '/')?.origin).toBe('http://127.0.0.1:3000');
    expect(table.match('APP.EXAMPLE:80', '/')?.origin).toBe('http://127.0.0.1:3000');
    expect(table.match('Api.Example:8443', '/')?.origin).toBe('http://127.0.0.1:4000');
  });

  it('matches IPv6 Host headers with and without a port', () => {
    const anyPort = route('/', { host: '[::1]' });
    const port8080 = route('/x', { host: '[::1]:8080' });
    const table = new RouteTable([anyPort, port8080]);
    expect(table.match('[::1]:8080', '/x')?.section).toBe(port8080);
    expect(table.match('[::1]:8081', '/x')?.section).toBe(anyPort);
    expect(table.match('[::1]', '/x')?.section).toBe(anyPort);
    expect(table.match('[::1]:9', '/')?.section).toBe(anyPort);
    expect(table.match('[::2]:8080', '/x')).toBeUndefined();
    expect(table.match('::1', '/')).toBeUndefined();
  });

  it('matches full-form IPv6 route hosts', () => {
    const route6 = route('/', { host: '[fe80::1:2]:8080' });
    const table = new RouteTable([route6]);
    expect(table.match('[FE80::1:2]:8080', '/')?.section).toBe(route6);
    expect(table.match('[fe80::1:2]', '/')).toBeUndefined();
  });

  it('sends a request without a Host header only to routes without a host', () => {
    const any = route('/');
    const app = route('/', { host: 'app.example' });
    expect(new RouteTable([app, any]).match(undefined, '/')?.section).toBe(any);
    expect(new RouteTable([app]).match(undefined, '/')).toBeUndefined();
  });
});

describe('RouteTable: upstreams and context', () => {
  it.each([
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000', ''],
    ['http://127.0.0.1:3000/', 'http://127.0.0.1:3000', ''],
    ['http://127.0.0.1:3000/base/', 'http://127.0.0.1:3000', '/base'],
    ['http://127.0.0.1:3000/base', 'http://127.0.0.1:3000', '/base'],
    ['http://127.0.0.1:3000/a/b//', 'http://127.0.0.1:3000', '/a/b'],
    ['https://api.internal:8443/v1', 'https://api.internal:8443', '/v1'],
    ['http://App.Internal:80/x', 'http://app.internal', '/x'],
    ['https://api.internal:443', 'https://api.internal', ''],
    ['http://[::1]:3000/base/', 'http://[::1]:3000', '/base'],
  ])('splits the upstream %s into origin %s and base path %j', (upstream, origin, basePath) => {
    const [entry] = new RouteTable([route('/', { upstream })]).routes;
    expect(entry?.origin).toBe(origin);
    expect(entry?.basePath).toBe(basePath);
  });

  it('builds the enforcement context from the route environment and app', () => {
    const table = new RouteTable([
      route('/both', { environment: 'production', app: 'web' }),
      route('/env', { environment: 'staging' }),
      route('/app', { app: 'admin' }),
      route('/none'),
    ]);
    expect(table.match(undefined, '/both')?.context).toStrictEqual({
      environment: 'production',
      app: 'web',
    });
    expect(table.match(undefined, '/env')?.context).toStrictEqual({ environment: 'staging' });
    expect(table.match(undefined, '/app')?.context).toStrictEqual({ app: 'admin' });
    const none = table.match(undefined, '/none')?.context;
    expect(none).toStrictEqual({});
    expect(none !== undefined && 'environment' in none).toBe(false);
  });

  it('freezes the context, which every request on the route shares', () => {
    const context = new RouteTable([route('/', { app: 'web' })]).match(undefined, '/')?.context;
    expect(Object.isFrozen(context)).toBe(true);
  });
});

describe('hostnameOf', () => {
  it.each([
    [undefined, undefined],
    ['app.example', 'app.example'],
    ['APP.example:8443', 'app.example'],
    ['  app.example:80  ', 'app.example'],
    ['127.0.0.1:8080', '127.0.0.1'],
    ['[::1]:8080', '[::1]'],
    ['[::1]', '[::1]'],
    ['[FE80::1]:443', '[fe80::1]'],
  ])('reads %j as %j', (host, expected) => {
    expect(hostnameOf(host)).toBe(expected);
  });
});
