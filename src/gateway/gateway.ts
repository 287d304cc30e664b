import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline, type Readable } from 'node:stream';
import type { Logger } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import { nodeRequest, sendNodeResponse } from '../adapters/node/node-request.js';
import { type AdminServer, createAdminServer } from '../admin/admin-server.js';
import { OptionError } from '../errors.js';
import { pathOf } from '../http/http-request.js';
import { createLapse, type Lapse, RESERVED_PREFIX } from '../http/lapse.js';
import { type HttpResponseSpec, jsonResponse } from '../http/rejection.js';
import type { RequestSession } from '../http/request-session.js';
import {
  type Observability,
  type ObservabilityOptions,
  observeLapse,
} from '../observe/observability.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import type { SessionStore } from '../store/session-store.js';
import { BodyLimit, BodyTooLargeError } from './body-limit.js';
import {
  CLIENT_SCRIPT_PATH,
  clientScriptTag,
  HEADERS_INVALIDATED_BY_INJECTION,
  injectClientStream,
  planInjection,
} from './client-injection.js';
import { type ClientScript, clientScriptResponse, loadClientScript } from './client-script.js';
import { CollectedHeaders } from './collected-headers.js';
import { jwtCarrierOptions } from './config/jwt-carrier-options.js';
import { formatListenAddress } from './config/listen-address.js';
import type { GatewayConfig } from './config/types.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './forwarded-headers.js';
import { silentLogger } from './gateway-logger.js';
import {
  formatIdentityHeader,
  IdentityHeaderError,
  isEndHeader,
  parseIdentityHeader,
} from './identity-header.js';
import { writeRawResponse } from './raw-response.js';
import { type Route, RouteTable } from './route-table.js';
import { storeFromConfig } from './store-from-config.js';
import { StreamingResponses } from './streaming-responses.js';
import { classifyUpstreamError, upstreamErrorResponse } from './upstream-errors.js';
import { WebSocketBridge } from './websocket/websocket-bridge.js';

/** How long `close()` lets requests in flight finish by default, ms. */
export const DEFAULT_DRAIN_MS = 10_000;

/** Options of {@link createGateway}. */
export interface GatewayOptions {
  /** The validated `lapse.yaml` (from `loadGatewayConfigFile`). */
  readonly config: GatewayConfig;
  /** The session store; default: opened from `config.store` (and closed with the gateway). */
  readonly store?: SessionStore;
  /** Structured logs (pino); default: none. */
  readonly logger?: Logger;
  /**
   * Metrics, the audit log and anomaly detection (`lapse/admin`'s
   * `observeLapse`). Default: `false` (none); `lapse serve` turns them on
   * with the audit destination of `admin.audit`.
   */
  readonly observability?: ObservabilityOptions | false;
  /**
   * Start the admin listener of `config.admin` with `listen()` (needs
   * `observability`). Default: `false`; `lapse serve` starts it.
   */
  readonly admin?: boolean;
}

/** A path with a `.` or `..` segment (plain or percent-encoded): upstreams would resolve it past the gateway's checks. */
const DOT_SEGMENT = /(?:^|\/|%2f|\\|%5c)(?:\.|%2e){1,2}(?:$|\/|%2f|\\|%5c)/i;

/** A WebSocket key: 16 bytes in base64 (RFC 6455 section 4.1). */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;

function badRequest(reason: string): HttpResponseSpec {
  return jsonResponse(400, { error: 'bad_request', reason });
}

function notFound(): HttpResponseSpec {
  return jsonResponse(404, { error: 'not_found' });
}

/**
 * The gateway: a Policy Enforcement Point in front of any app. Every request
 * and WebSocket upgrade goes through the same framework-neutral step as the
 * middleware (`Lapse.handle`); what passes is forwarded to the route's
 * upstream over a keep-alive pool (undici), bodies streamed both ways.
 *
 * @example
 * import { createGateway, loadGatewayConfigFile } from 'lapse/gateway';
 * const gateway = await createGateway({ config: await loadGatewayConfigFile('lapse.yaml') });
 * console.log(`listening on ${await gateway.listen()}`);
 * process.on('SIGTERM', () => gateway.close());
 */
export class Gateway {
  readonly #config: GatewayConfig;
  readonly #lapse: Lapse;
  readonly #routes: RouteTable;
  readonly #agent: Agent;
  readonly #server: Server;
  readonly #bridge: WebSocketBridge;
  readonly #logger: Logger;
  readonly #store: SessionStore;
  readonly #ownsStore: boolean;
  readonly #loggedOnce = new Set<string>();
  readonly #clientScript: ClientScript;
  readonly #streams: StreamingResponses;
  readonly #observability: Observability | undefined;
  readonly #admin: AdminServer | undefined;
  #adminUrl: string | undefined;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    config: GatewayConfig,
    store: SessionStore,
    ownsStore: boolean,
    logger: Logger,
    observe: Pick<GatewayOptions, 'observability' | 'admin'> = {},
  ) {
    if (observe.admin === true && (observe.observability ?? false) === false) {
      throw new OptionError(
        'admin',
        'the admin listener needs observability: pass observability: {}',
      );
    }
    this.#config = config;
    this.#store = store;
    this.#ownsStore = ownsStore;
    this.#logger = logger;
    const { gateway, identity } = config;
    const authority = new SessionAuthority({
      policy: config.policy,
      store,
      onListenerError: (error) => logger.error({ err: error }, 'session event listener failed'),
    });
    this.#lapse = createLapse({
      authority,
      loginUrl: gateway.loginUrl,
      public: gateway.public,
      ...(identity.mode === 'jwt'
        ? { jwt: jwtCarrierOptions(identity) }
        : { cookie: { development: gateway.development } }),
    });
    this.#routes = new RouteTable(gateway.routes);
    this.#clientScript = loadClientScript();
    if (!this.#clientScript.isBundle) {
      logger.warn(
        { event: 'client.placeholder' },
        'dist/browser/lapse-client.js is missing (run npm run build): /_lapse/client.js serves the status-polling placeholder',
      );
    }
    this.#agent = new Agent({
      connections: 256,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      headersTimeout: gateway.limits.upstreamTimeoutMs,
      bodyTimeout: gateway.limits.upstreamTimeoutMs,
      connectTimeout: Math.min(gateway.limits.upstreamTimeoutMs, 10_000),
    });
    this.#bridge = new WebSocketBridge({ lapse: this.#lapse, logger });
    this.#streams = new StreamingResponses({ lapse: this.#lapse, logger });
    const observing = observe.observability ?? false;
    if (observing !== false) {
      this.#observability = observeLapse(this.#lapse, {
        ...observing,
        onError: (error) => logger.warn({ err: error }, 'observability: a background check failed'),
      });
      this.#observability.metrics.setWebSocketProvider(() => this.#bridge.connectionCount);
    }
    if (observe.admin === true && this.#observability !== undefined) {
      this.#admin = createAdminServer({
        observability: this.#observability,
        listen: config.admin.listen,
        logger,
        ...(config.admin.token === undefined ? {} : { token: config.admin.token.value() }),
      });
    }
    this.#server = createServer({
      maxHeaderSize: gateway.limits.maxHeaderBytes,
      headersTimeout: 20_000,
      keepAliveTimeout: 5_000,
    });
    this.#server.on('request', (req, res) => this.#onRequest(req, res));
    this.#server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      this.#onUpgrade(req, socket, head).catch((error: unknown) => {
        logger.error({ err: error }, 'upgrade failed');
        writeRawResponse(socket, jsonResponse(500, { error: 'internal_error' }));
      });
    });
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      const code = error.code ?? '';
      if (code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const response =
        code === 'HPE_HEADER_OVERFLOW'
          ? jsonResponse(431, { error: 'request_header_fields_too_large' })
          : code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? jsonResponse(408, { error: 'request_timeout' })
            : badRequest('malformed_request');
      logger.debug({ code }, 'malformed request rejected');
      writeRawResponse(socket, response);
    });
  }

  /** The enforcement step, shared with anything that wants to check sessions the same way. */
  get lapse(): Lapse {
    return this.#lapse;
  }

  /** The config the gateway started with (its policy may since have been reloaded). */
  get config(): GatewayConfig {
    return this.#config;
  }

  /** Metrics, audit log and anomalies, when the gateway was created with `observability`. */
  get observability(): Observability | undefined {
    return this.#observability;
  }

  /** The admin listener's base URL, once listening (only with `admin: true`). */
  get adminUrl(): string | undefined {
    return this.#adminUrl;
  }

  /** Open WebSocket connections. */
  get webSocketCount(): number {
    return this.#bridge.connectionCount;
  }

  /** The address the gateway listens on, once listening. */
  get address(): AddressInfo | undefined {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address : undefined;
  }

  /**
   * Start listening on `gateway.listen` (and the admin listener on
   * `admin.listen`, when enabled); resolves with the gateway's base URL
   * (`http://127.0.0.1:8080`).
   */
  async listen(): Promise<string> {
    if (this.#admin !== undefined) this.#adminUrl = await this.#admin.listen();
    try {
      return await this.#listenGateway();
    } catch (error) {
      await this.#admin?.close();
      throw error;
    }
  }

  #listenGateway(): Promise<string> {
    const { host, port } = this.#config.gateway.listen;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.address as AddressInfo;
        const url = `http://${formatListenAddress({ host, port: address.port })}`;
        this.#logger.info({ event: 'gateway.listen', url }, `gateway listening on ${url}`);
        resolve(url);
      });
    });
  }

  /** Replace the policy in force (a reload); live sessions meet it at their next check. */
  setPolicy(policy: Policy | CompiledPolicy): void {
    this.#lapse.authority.setPolicy(policy);
    this.#observability?.policyChanged();
    // Open WebSockets meet a stricter policy now, not at their next message.
    this.#bridge.recheckAll();
  }

  /**
   * Stop: refuse new connections, close WebSockets with 1001, let requests in
   * flight finish for up to `drainMs`, then cut what is left and release the
   * store (if the gateway opened it) and the upstream pools.
   */
  close(drainMs: number = DEFAULT_DRAIN_MS): Promise<void> {
    this.#closing ??= this.#shutdown(drainMs);
    return this.#closing;
  }

  async #shutdown(drainMs: number): Promise<void> {
    this.#logger.info({ event: 'gateway.close', inFlight: this.#inFlight }, 'gateway closing');
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    await this.#bridge.closeAll(1001, 'gateway shutting down');
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#server.closeAllConnections();
    await stopped;
    this.#bridge.dispose();
    this.#streams.dispose();
    await this.#agent.close().catch(() => undefined);
    await this.#admin?.close();
    await this.#observability?.close();
    this.#lapse.authority.dispose();
    if (this.#ownsStore) await this.#store.close();
    this.#logger.info({ event: 'gateway.closed' }, 'gateway closed');
  }

  #logOnce(key: string, log: () => void): void {
    if (this.#loggedOnce.has(key)) return;
    this.#loggedOnce.add(key);
    log();
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#inFlight += 1;
    res.once('close', () => {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) this.#drained?.();
    });
    if (this.#closing !== undefined) res.shouldKeepAlive = false;
    this.#handle(req, res).catch((error: unknown) => {
      this.#logger.error({ err: error, method: req.method }, 'request failed');
      if (res.headersSent) res.destroy();
      else sendNodeResponse(res, jsonResponse(500, { error: 'internal_error' }));
    });
  }

  /** The checks every request and upgrade passes before lapse looks at it. */
  #precheck(req: IncomingMessage): HttpResponseSpec | { route: Route | undefined; path: string } {
    const url = req.url ?? '';
    // Only origin-form targets: an absolute URL would make the gateway an open proxy.
    if (!url.startsWith('/')) return badRequest('request_target_must_be_a_path');
    const path = pathOf(url);
    if (DOT_SEGMENT.test(path)) return badRequest('dot_segments_in_path');
    const route = this.#routes.match(req.headers.host, path);
    if (route === undefined && !path.startsWith(RESERVED_PREFIX)) return notFound();
    return { route, path };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const checked = this.#precheck(req);
    if (!('path' in checked)) {
      // A request this malformed says nothing good about the rest of the connection.
      if (checked.status === 400) res.shouldKeepAlive = false;
      sendNodeResponse(res, checked);
      return;
    }
    const { route, path } = checked;
    if (path === CLIENT_SCRIPT_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      const { spec, body } = clientScriptResponse(
        this.#clientScript,
        req.headers['accept-encoding'],
        req.headers['if-none-match'],
      );
      res.writeHead(spec.status, spec.headers.flat());
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const declaredLength = req.headers['content-length'];
    const maxBodyBytes = this.#config.gateway.limits.maxBodyBytes;
    if (declaredLength !== undefined && Number(declaredLength) > maxBodyBytes) {
      res.shouldKeepAlive = false;
      sendNodeResponse(res, jsonResponse(413, { error: 'payload_too_large', limit: maxBodyBytes }));
      return;
    }
    const sink = new CollectedHeaders();
    const result = await this.#lapse.handle(nodeRequest(req), sink, route?.context);
    if (result.action === 'respond') {
      sendNodeResponse(res, result.response);
      return;
    }
    if (route === undefined) {
      sendNodeResponse(res, notFound());
      return;
    }
    await this.#forward(req, res, route, result.session, sink);
  }

  async #forward(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    session: RequestSession,
    sink: CollectedHeaders,
  ): Promise<void> {
    const headers = this.#upstreamHeaders(req, session);
    const declaredLength = req.headers['content-length'];
    const isChunked = req.headers['transfer-encoding'] !== undefined;
    let body: Readable | undefined;
    if (isChunked) {
      body = pipeline(req, new BodyLimit(this.#config.gateway.limits.maxBodyBytes), () => {});
    } else if (declaredLength !== undefined && declaredLength !== '0') {
      body = req;
    }
    // undici takes an EventEmitter as its abort signal: far cheaper per request than an
    // AbortController, whose abort builds a DOMException with a stack trace.
    const abort = new EventEmitter();
    let isAborted = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      isAborted = true;
      abort.emit('abort');
    });
    let upstream: Dispatcher.ResponseData;
    try {
      upstream = await this.#agent.request({
        origin: route.origin,
        path: `${route.basePath}${req.url}`,
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: body ?? null,
        signal: abort,
      });
    } catch (error) {
      if (isAborted) return;
      if (
        error instanceof BodyTooLargeError ||
        (error as Error).cause instanceof BodyTooLargeError
      ) {
        res.shouldKeepAlive = false;
        sendNodeResponse(
          res,
          jsonResponse(413, {
            error: 'payload_too_large',
            limit:
              error instanceof BodyTooLargeError
                ? error.limitBytes
                : this.#config.gateway.limits.maxBodyBytes,
          }),
        );
        return;
      }
      const failure = classifyUpstreamError(error);
      this.#logger.warn(
        {
          event: 'upstream.error',
          upstream: route.origin,
          failure,
          code: (error as NodeJS.ErrnoException).code,
        },
        `upstream ${route.origin} failed: ${failure}`,
      );
      sendNodeResponse(res, upstreamErrorResponse(failure));
      return;
    }
    const { statusCode, headers: upstreamHeaders } = upstream;
    const identityAnswer = await this.#consumeIdentity(upstreamHeaders, session, route);
    if (identityAnswer !== undefined) {
      upstream.body.on('error', () => undefined).destroy();
      sendNodeResponse(res, identityAnswer);
      return;
    }
    const out = clientResponseHeaders(upstreamHeaders);
    sink.applyTo(out as Record<string, string | string[]>);
    let source: Readable = upstream.body;
    // Only pages of a live session get the SDK: on a public page without one it would
    // only ever report "signed out".
    if (route.section.injectClient && session.isActive) {
      const plan = planInjection(req.method ?? 'GET', statusCode, upstreamHeaders);
      if (plan.inject) {
        for (const name of HEADERS_INVALIDATED_BY_INJECTION) delete out[name];
        const tag = clientScriptTag({
          loginUrl: this.#config.gateway.loginUrl,
          ...(plan.nonce === undefined ? {} : { nonce: plan.nonce }),
        });
        source = pipeline(upstream.body, injectClientStream(plan.encoding, tag), () => {});
      } else if (plan.reason === 'csp') {
        this.#logOnce(`csp:${route.section.path}`, () =>
          this.#logger.warn(
            { event: 'inject.skipped', route: route.section.path, reason: 'csp' },
            `not injecting the browser SDK on ${route.section.path}: the page's Content-Security-Policy allows neither 'self' nor a nonce for scripts`,
          ),
        );
      }
    }
    res.writeHead(statusCode, out);
    // A body still streaming (server-sent events, a long poll) ends with its session,
    // as a WebSocket does. A response that changed who is signed in is left alone.
    const { verdict } = session;
    if (
      verdict?.ok === true &&
      out['content-length'] === undefined &&
      upstreamHeaders['lapse-begin'] === undefined &&
      upstreamHeaders['lapse-end'] === undefined &&
      req.method !== 'HEAD' &&
      statusCode !== 204 &&
      statusCode !== 304
    ) {
      this.#streams.track(
        res,
        nodeRequest(req),
        route.context,
        verdict.record.idHash,
        verdict.status,
      );
    }
    // pipe() rather than pipeline(): pipeline's bookkeeping (an AbortController per call)
    // cost more than everything else the gateway does per request. Errors still end both sides.
    source.on('error', (error) => {
      if (!isAborted) {
        this.#logger.debug({ err: error, upstream: route.origin }, 'response stream broken');
      }
      res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) source.destroy();
    });
    source.pipe(res);
  }

  /**
   * `identity.mode: upstream`: a `Lapse-Begin` from the app starts a session (a
   * fresh id, the carried one retired), `Lapse-End: ?1` ends it. In `jwt` mode
   * they are ignored (logged once). Returns a response to send instead of the
   * upstream's when the app's header is unreadable.
   */
  async #consumeIdentity(
    headers: Record<string, string | string[] | undefined>,
    session: RequestSession,
    route: Route,
  ): Promise<HttpResponseSpec | undefined> {
    const begin = headers['lapse-begin'];
    const end = headers['lapse-end'];
    if (begin === undefined && end === undefined) return undefined;
    if (this.#config.identity.mode !== 'upstream') {
      this.#logOnce(`identity-headers:${route.origin}`, () =>
        this.#logger.warn(
          { event: 'identity.ignored', upstream: route.origin },
          'Lapse-Begin / Lapse-End from the upstream ignored: identity.mode is jwt',
        ),
      );
      return undefined;
    }
    if (begin !== undefined) {
      let draft: ReturnType<typeof parseIdentityHeader>;
      try {
        draft = parseIdentityHeader(Array.isArray(begin) ? begin.join(', ') : begin);
      } catch (error) {
        const detail = error instanceof IdentityHeaderError ? error.message : 'unreadable';
        this.#logger.error(
          { event: 'identity.invalid', upstream: route.origin, detail },
          `the upstream sent an unreadable Lapse-Begin: ${detail}`,
        );
        return jsonResponse(502, { error: 'bad_gateway', reason: 'upstream_invalid_identity' });
      }
      await session.begin(draft);
      return undefined;
    }
    if (isEndHeader(Array.isArray(end) ? (end[0] ?? '') : (end as string))) await session.end();
    return undefined;
  }

  async #onUpgrade(
    req: IncomingMessage,
    socket: import('node:stream').Duplex,
    head: Buffer,
  ): Promise<void> {
    if (this.#closing !== undefined) {
      writeRawResponse(socket, jsonResponse(503, { error: 'shutting_down' }));
      return;
    }
    const checked = this.#precheck(req);
    if (!('path' in checked)) {
      writeRawResponse(socket, checked);
      return;
    }
    const { route } = checked;
    if (route === undefined) {
      writeRawResponse(socket, notFound());
      return;
    }
    if (
      req.method !== 'GET' ||
      req.headers.upgrade?.toLowerCase() !== 'websocket' ||
      req.headers['sec-websocket-version'] !== '13' ||
      !WEBSOCKET_KEY.test(req.headers['sec-websocket-key'] ?? '')
    ) {
      writeRawResponse(
        socket,
        jsonResponse(400, { error: 'bad_request', reason: 'invalid_websocket_upgrade' }, [
          ['Sec-WebSocket-Version', '13'],
        ]),
      );
      return;
    }
    const request = nodeRequest(req);
    const sink = new CollectedHeaders();
    const checkedAt = Date.now();
    const result = await this.#lapse.handle(request, sink, route.context);
    if (result.action === 'respond') {
      writeRawResponse(socket, result.response);
      return;
    }
    const session = result.session;
    const upstreamUrl = `${route.origin.replace(/^http/, 'ws')}${route.basePath}${req.url}`;
    this.#bridge.accept({
      req,
      socket,
      head,
      request,
      context: route.context,
      route,
      verdict: session.verdict,
      checkedAt,
      isPassive: this.#lapse.isPassive(request),
      upstreamUrl,
      upstreamHeaders: this.#upstreamHeaders(req, session),
    });
  }

  /** The request headers an upstream receives, with `Lapse-Identity` for a live session. */
  #upstreamHeaders(req: IncomingMessage, session: RequestSession) {
    return upstreamRequestHeaders(req, {
      clientAddress: req.socket.remoteAddress,
      protocol: 'http',
      sessionCookie: this.#lapse.cookieName,
      identity: session.isActive
        ? formatIdentityHeader({
            subject: session.subject as string,
            roles: session.roles,
            ...(session.userType === undefined ? {} : { userType: session.userType }),
          })
        : undefined,
    });
  }
}

/**
 * Create a gateway from a validated config: opens the store it names (unless
 * one is given), wires enforcement, proxying and WebSockets. Call `listen()`.
 *
 * @example
 * import { createGateway, loadGatewayConfigFile } from 'lapse/gateway';
 * const gateway = await createGateway({ config: await loadGatewayConfigFile('lapse.yaml') });
 * await gateway.listen();
 */
export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? silentLogger();
  const store = options.store ?? (await storeFromConfig(options.config.store));
  return new Gateway(options.config, store, options.store === undefined, logger, options);
}
