import type { EnforcementContext } from '../policy/types.js';
import type { RouteSection } from './config/types.js';

/** One route, ready for forwarding: its upstream parsed, its enforcement context built. */
export interface Route {
  readonly section: RouteSection;
  /** The upstream's origin (`http://127.0.0.1:3000`), the key of its connection pool. */
  readonly origin: string;
  /** The upstream's base path without a trailing slash (`''` for none), prefixed to forwarded paths. */
  readonly basePath: string;
  /** The policy context of requests on this route. */
  readonly context: EnforcementContext;
}

/** Whether `path` is `prefix` itself or lies under it (`/app` matches `/app` and `/app/x`, not `/apps`). */
function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === bare || path.startsWith(`${bare}/`);
}

/** The host of a `Host` header, lower case, without the port. */
export function hostnameOf(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/** Whether a route's `host` (name, or name:port) admits a request's `Host` header. */
function admitsHost(routeHost: string, requestHost: string | undefined): boolean {
  if (requestHost === undefined) return false;
  const hasPort =
    /:[0-9]+$/.test(routeHost) && (!routeHost.startsWith('[') || routeHost.includes(']:'));
  return hasPort
    ? requestHost.trim().toLowerCase() === routeHost
    : hostnameOf(requestHost) === routeHost;
}

/**
 * The gateway's routes: a request goes to the route whose host matches (a
 * route without `host` matches any) and whose path prefix is the longest; a
 * host-specific route wins over a catch-all of the same length.
 *
 * @example
 * const table = new RouteTable(config.gateway.routes);
 * table.match('app.example', '/api/users')?.origin; // 'http://127.0.0.1:3000'
 */
export class RouteTable {
  readonly #routes: readonly Route[];

  constructor(sections: readonly RouteSection[]) {
    const routes = sections.map((section): Route => {
      const url = new URL(section.upstream);
      return {
        section,
        origin: url.origin,
        basePath: url.pathname.replace(/\/+$/, ''),
        context: Object.freeze({
          ...(section.environment === undefined ? {} : { environment: section.environment }),
          ...(section.app === undefined ? {} : { app: section.app }),
        }),
      };
    });
    // Longest prefix first; at equal length, a route with a host first. The sort is stable.
    const prefixLength = (route: Route) => route.section.path.replace(/\/$/, '').length;
    this.#routes = routes.sort(
      (a, b) =>
        prefixLength(b) - prefixLength(a) ||
        Number(b.section.host !== undefined) - Number(a.section.host !== undefined),
    );
  }

  /** Every route, in matching order. */
  get routes(): readonly Route[] {
    return this.#routes;
  }

  /** The route for a request, or `undefined` when none matches (the gateway answers 404). */
  match(host: string | undefined, path: string): Route | undefined {
    for (const route of this.#routes) {
      const routeHost = route.section.host;
      if (routeHost !== undefined && !admitsHost(routeHost, host)) continue;
      if (isUnder(path, route.section.path)) return route;
    }
    return undefined;
  }
}
