import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { sendInternalError, sendNodeResponse } from '../adapters/node/node-request.js';
import { ErrorCodes, LapseError, OptionError } from '../errors.js';
import { type HttpResponseSpec, jsonResponse } from '../http/rejection.js';
import type { Observability } from '../observe/observability.js';
import type { EnforcementContext } from '../policy/types.js';
import { AdminApi, wholeNumber } from './admin-api.js';
import { AdminToken } from './admin-token.js';
import { DashboardAssets } from './dashboard-assets.js';
import { streamEvents } from './event-stream.js';
import { isLoopbackAddress, isLoopbackHostHeader } from './loopback.js';

/** Where the admin listener listens by default (SPEC section 5). */
export const DEFAULT_ADMIN_LISTEN = Object.freeze({ host: '127.0.0.1', port: 7778 });

/** Most event streams open at once; more get 503 (each holds a socket and a subscription). */
const MAX_STREAMS = 64;

/** Options of {@link createAdminServer}. */
export interface AdminServerOptions {
  /** The metrics, audit log and anomalies of the enforcement point to administer. */
  readonly observability: Observability;
  /**
   * The bearer token every API call and `/metrics` must present (at least
   * 16 visible ASCII characters). Without one the server only starts on a
   * loopback address.
   */
  readonly token?: string;
  /** Where to listen. Default: `127.0.0.1:7778` (port 0: any free port). */
  readonly listen?: { readonly host: string; readonly port: number };
  /** The context warning periods and `warnAt` are resolved in. Default: none. */
  readonly context?: EnforcementContext;
  /** Structured logs; default: none. Tokens are never logged. */
  readonly logger?: Logger;
}

const SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
];

function send(res: ServerResponse, response: HttpResponseSpec): void {
  sendNodeResponse(res, { ...response, headers: [...response.headers, ...SECURITY_HEADERS] });
}

function methodNotAllowed(allow: string): HttpResponseSpec {
  return jsonResponse(405, { error: 'method_not_allowed' }, [['Allow', allow]]);
}

const NOT_FOUND = jsonResponse(404, { error: 'not_found' });

/**
 * Says whether a token is needed and whether the one presented is right,
 * without a 401 (which browsers log as an error): the dashboard's first call.
 */
const AUTH_PATH = '/api/auth';

/** What a route returns when it already answered with a stream. */
const STREAMED: HttpResponseSpec = Object.freeze({ status: 0, headers: [] });

/** A path segment, decoded; `undefined` when its percent-encoding is broken. */
function segment(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * The admin listener (SPEC section 6): the dashboard at `/`, Prometheus
 * metrics at `/metrics`, and the admin API under `/api/` (docs/admin-api.md),
 * on its own port, apart from the traffic it governs.
 *
 * With a token, everything but the dashboard's static files needs
 * `Authorization: Bearer <token>` (checked in constant time). Without one,
 * the server refuses to start beyond loopback, and refuses requests whose
 * `Host` is not a loopback name (DNS rebinding) or that change something
 * from another site's page (`Origin`).
 *
 * @example
 * import { createAdminServer, observeLapse } from 'lapse/admin';
 * const observability = observeLapse(lapse);
 * const admin = createAdminServer({ observability, token: process.env.LAPSE_ADMIN_TOKEN });
 * console.log(`dashboard on ${await admin.listen()}`);
 */
export class AdminServer {
  readonly #observability: Observability;
  readonly #api: AdminApi;
  readonly #token: AdminToken | undefined;
  readonly #listen: { readonly host: string; readonly port: number };
  readonly #logger: Logger | undefined;
  readonly #assets = new DashboardAssets();
  readonly #server: Server;
  #streams = 0;

  constructor(options: AdminServerOptions) {
    if (options === null || typeof options !== 'object' || options.observability === undefined) {
      throw new OptionError('observability', 'pass { observability: observeLapse(lapse) }');
    }
    this.#observability = options.observability;
    this.#token = options.token === undefined ? undefined : new AdminToken(options.token);
    this.#listen = options.listen ?? DEFAULT_ADMIN_LISTEN;
    this.#logger = options.logger;
    if (this.#token === undefined && !isLoopbackAddress(this.#listen.host)) {
      throw new LapseError(
        ErrorCodes.CONFIG_ADMIN_UNPROTECTED,
        `the admin listener on ${this.#listen.host} can be reached from other machines and has no token: give it a token, or listen on 127.0.0.1`,
      );
    }
    this.#api = new AdminApi(options.observability, options.context);
    this.#server = createServer({ headersTimeout: 20_000, requestTimeout: 30_000 });
    this.#server.on('request', (req, res) => {
      this.#onRequest(req, res).catch((error: unknown) => {
        this.#logger?.error({ err: error }, 'admin request failed');
        sendInternalError(res);
      });
    });
  }

  /** The address it listens on, once listening. */
  get address(): AddressInfo | undefined {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address : undefined;
  }

  /** Start listening; resolves with the base URL (`http://127.0.0.1:7778`). */
  listen(): Promise<string> {
    const { host, port } = this.#listen;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.address as AddressInfo;
        const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        const url = `http://${shown}:${address.port}`;
        this.#logger?.info(
          { event: 'admin.listen', url, hasToken: this.#token !== undefined },
          `admin listening on ${url}`,
        );
        resolve(url);
      });
    });
  }

  /** Stop listening and end open event streams. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const refused = this.#refusal(req, path);
    if (refused !== undefined) {
      send(res, refused);
      return;
    }
    if (this.#assets.has(path)) {
      if (method !== 'GET' && method !== 'HEAD') return send(res, methodNotAllowed('GET, HEAD'));
      return send(res, this.#assets.response(path) as HttpResponseSpec);
    }
    if (path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') return send(res, methodNotAllowed('GET, HEAD'));
      const { metrics } = this.#observability;
      return send(res, {
        status: 200,
        headers: [
          ['Content-Type', metrics.contentType],
          ['Cache-Control', 'no-store'],
        ],
        body: await metrics.metricsText(),
      });
    }
    if (path === AUTH_PATH) {
      if (method !== 'GET' && method !== 'HEAD') return send(res, methodNotAllowed('GET, HEAD'));
      return send(
        res,
        jsonResponse(200, {
          tokenRequired: this.#token !== undefined,
          authorized: this.#token?.accepts(req.headers.authorization) ?? true,
        }),
      );
    }
    if (!path.startsWith('/api/')) return send(res, NOT_FOUND);
    const response = await this.#route(
      req,
      res,
      method,
      path.slice('/api/'.length),
      url.searchParams,
    );
    if (response !== STREAMED) send(res, response);
  }

  /** Why a request is refused before routing (401, 403), or `undefined`. */
  #refusal(req: IncomingMessage, path: string): HttpResponseSpec | undefined {
    if (this.#token === undefined) {
      if (!isLoopbackHostHeader(req.headers.host)) {
        return jsonResponse(403, {
          error: 'forbidden',
          message: 'without an admin token the admin listener answers only to a loopback Host',
        });
      }
      const origin = req.headers.origin;
      const isSafe = req.method === 'GET' || req.method === 'HEAD';
      if (!isSafe && origin !== undefined && origin !== `http://${req.headers.host}`) {
        return jsonResponse(403, { error: 'forbidden', message: 'cross-site request refused' });
      }
      return undefined;
    }
    if (this.#assets.has(path) || path === AUTH_PATH) return undefined;
    if (this.#token.accepts(req.headers.authorization)) return undefined;
    return jsonResponse(401, { error: 'unauthorized' }, [
      ['WWW-Authenticate', 'Bearer realm="lapse-admin"'],
    ]);
  }

  async #route(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    rest: string,
    query: URLSearchParams,
  ): Promise<HttpResponseSpec> {
    const parts = rest.split('/');
    const isRead = method === 'GET' || method === 'HEAD';
    switch (parts[0]) {
      case 'sessions': {
        if (parts.length === 1) {
          if (isRead) return this.#api.sessions(query);
          // `DELETE /api/sessions?subject=` is `DELETE /api/subjects/:subject/sessions` for
          // every subject, `.` and `..` included (URLs resolve those path segments away).
          const subject = query.get('subject');
          if (method === 'DELETE' && subject !== null) return this.#api.revokeSubject(subject);
          return methodNotAllowed('GET, HEAD, DELETE');
        }
        const id = parts.length === 2 ? segment(parts[1] as string) : undefined;
        if (id === undefined) return NOT_FOUND;
        return method === 'DELETE' ? this.#api.revokeSession(id) : methodNotAllowed('DELETE');
      }
      case 'subjects': {
        const subject =
          parts.length === 3 && parts[2] === 'sessions' ? segment(parts[1] as string) : undefined;
        if (subject === undefined) return NOT_FOUND;
        return method === 'DELETE' ? this.#api.revokeSubject(subject) : methodNotAllowed('DELETE');
      }
      case 'explain':
      case 'policy':
      case 'stats':
      case 'events': {
        if (parts.length !== 1) return NOT_FOUND;
        if (!isRead) return methodNotAllowed('GET, HEAD');
        if (parts[0] === 'explain') return this.#api.explain(query);
        if (parts[0] === 'policy') return this.#api.policy();
        if (parts[0] === 'stats') return this.#api.stats();
        if ((req.headers.accept ?? '').includes('text/event-stream')) {
          return this.#stream(req, res, query);
        }
        return this.#api.events(query);
      }
      default:
        return NOT_FOUND;
    }
  }

  /** Answer an event stream; resolves with nothing to send once the stream ends. */
  async #stream(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
  ): Promise<HttpResponseSpec> {
    let after: number | undefined;
    try {
      const lastEventId = req.headers['last-event-id'];
      after =
        typeof lastEventId === 'string' && /^\d{1,15}$/.test(lastEventId)
          ? Number(lastEventId)
          : wholeNumber(query, 'after');
    } catch (error) {
      if (error instanceof OptionError) {
        return jsonResponse(400, {
          error: 'bad_request',
          parameter: error.option,
          message: error.message,
        });
      }
      throw error;
    }
    if (this.#streams >= MAX_STREAMS) {
      return jsonResponse(503, { error: 'too_many_streams' }, [['Retry-After', '5']]);
    }
    this.#streams += 1;
    try {
      await streamEvents(this.#observability.audit, res, after === undefined ? {} : { after });
    } finally {
      this.#streams -= 1;
    }
    return STREAMED;
  }
}

/**
 * Create the admin listener (see {@link AdminServer}).
 *
 * @example
 * import { createAdminServer, observeLapse } from 'lapse/admin';
 * const admin = createAdminServer({ observability: observeLapse(lapse), listen: { host: '127.0.0.1', port: 7778 } });
 * await admin.listen();
 */
export function createAdminServer(options: AdminServerOptions): AdminServer {
  return new AdminServer(options);
}
