import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { OptionError, StoreUnavailableError } from '../../errors.js';
import type { HttpRequestLike } from '../../http/http-request.js';
import type { Lapse } from '../../http/lapse.js';
import type { EnforcementContext } from '../../policy/types.js';
import type { Verdict } from '../../session/authority.js';
import { nextDeadline } from '../../session/decide.js';
import type { RejectReason, SessionStatus } from '../../session/types.js';
import type { Route } from '../route-table.js';
import { onSessionEnds } from '../session-ends.js';
import {
  answerUpgrade,
  GOING_AWAY_CLOSE_CODE,
  relayableCloseCode,
  relayUpgradeAnswer,
  SESSION_EXPIRED_CLOSE_CODE,
  STORE_UNAVAILABLE_CLOSE_CODE,
  STORE_UNAVAILABLE_CLOSE_REASON,
  sessionExpiredReason,
} from './close-codes.js';
import { DeadlineBuckets } from './deadline-buckets.js';

/** Options of {@link WebSocketBridge}. */
export interface WebSocketBridgeOptions {
  /** The enforcement point: its `verify` re-checks sessions, its authority and store tell of revocations. */
  readonly lapse: Lapse;
  /** Structured logs (debug for open/close, warn for upstream failures). Session ids and tokens are never logged. */
  readonly logger: Logger;
  /** Largest message accepted from either side, bytes; a larger one closes that side with 1009. Default: 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** How long to wait for the upstream's handshake, ms. Default: 10000. */
  readonly handshakeTimeoutMs?: number;
  /**
   * At most one touch (store write) per session per this many ms, however many
   * messages and connections. Shortened to half the session's idle timeout
   * when that is shorter, so batched activity always lands before the deadline.
   * Default: 1000.
   */
  readonly touchIntervalMs?: number;
  /** Resolution of the bridge's timers, ms. Default: 250. */
  readonly bucketMs?: number;
  /** The local clock, epoch ms (tests). Default: `Date.now`. */
  readonly now?: () => number;
}

/**
 * One WebSocket upgrade the gateway has checked and routed, handed to the
 * bridge to complete.
 */
export interface BridgedUpgrade {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  /** The upgrade request as lapse reads it (it carries the cookie or token used for re-checks). */
  readonly request: HttpRequestLike;
  /** The route's enforcement context. */
  readonly context: EnforcementContext;
  readonly route: Route;
  /**
   * The gateway's check of the upgrade: an ok verdict binds the connection to
   * the session; `undefined` (a public path without a session) bridges it
   * without deadlines or touches. A verdict that is not ok is treated like
   * `undefined`: only pass one for a public path.
   */
  readonly verdict: Verdict | undefined;
  /**
   * When the gateway began that check, on the bridge's clock (`Date.now()`
   * unless `now` was given). The verdict's deadlines are measured from it, so
   * the store round trip cannot stretch them. Default: when `accept` is called.
   */
  readonly checkedAt?: number;
  /**
   * True when the upgrade was on a public path: a session it carries still
   * bounds the connection, but its messages are never activity. Default: false.
   */
  readonly isPassive?: boolean;
  /** The upstream's `ws://` or `wss://` URL: route origin + basePath + path and query. */
  readonly upstreamUrl: string;
  /** The upstream request's headers, from `upstreamRequestHeaders()`; the handshake's own are dropped here. */
  readonly upstreamHeaders: Readonly<Record<string, string | string[]>>;
}

type Side = 'client' | 'upstream';
type PauseCause = 'verifying' | 'backpressure';

/** A message held while the session is re-checked. */
interface HeldMessage {
  readonly to: Side;
  readonly data: RawData;
  readonly isBinary: boolean;
  /** Local time it arrived: it may be forwarded only if that was before the deadline. */
  readonly arrivedAt: number;
  readonly isActivity: boolean;
}

/** Most of an upstream's refusal body relayed to the client (the rest is cut). */
const MAX_RELAYED_REFUSAL_BYTES = 64 * 1024;

/** One session as the bridge watches it: its connections by context, and the touch batching they share. */
interface WatchedSession {
  readonly idHash: string;
  readonly groups: Map<string, CheckGroup>;
  /** Local time the last touch was asked for: activity before it is counted already. */
  lastTouchAt: number;
  touchIntervalMs: number;
  /** The group whose activity waits for the next touch, if any. */
  pendingTouch: CheckGroup | undefined;
}

/**
 * The connections of one session in one enforcement context: they share one
 * deadline and one check at a time (a context's policy decides the deadline).
 */
interface CheckGroup {
  readonly key: string;
  readonly session: WatchedSession;
  readonly context: EnforcementContext;
  /** The request re-checks are made with: the newest connection's. */
  request: HttpRequestLike;
  readonly connections: Set<Connection>;
  /** Local time of the earliest deadline, from the newest ok verdict. */
  deadline: number;
  /** Local time the verdict behind `deadline` was asked for. */
  deadlineFrom: number;
  isChecking: boolean;
}

/** How a connection ends, for the handshake answer while it is still connecting. */
interface Ending {
  readonly code: number;
  readonly reason: string;
  readonly rejectReason?: RejectReason;
  readonly by: 'lapse' | 'gateway' | 'client' | 'upstream';
}

interface Connection {
  readonly number: number;
  readonly upgrade: BridgedUpgrade;
  readonly group: CheckGroup | undefined;
  readonly isClientActivityOnly: boolean;
  readonly upstream: WebSocket;
  client: WebSocket | undefined;
  state: 'connecting' | 'open' | 'closing' | 'closed';
  isClientClosed: boolean;
  isUpstreamClosed: boolean;
  /** Messages held while the session is re-checked, both directions in arrival order. */
  held: HeldMessage[];
  /** A side's close that waits for held messages to be released first. */
  pendingClose: { readonly from: Side; readonly code: number; readonly reason: Buffer } | undefined;
  readonly pauses: Record<Side, Set<PauseCause>>;
  ending: Ending | undefined;
  readonly resolveClosed: () => void;
  readonly closed: Promise<void>;
  readonly onRawError: (error: Error) => void;
  readonly onRawClose: () => void;
}

const MIB = 1024 * 1024;
/** Above this many bytes waiting for a slow receiver, the sender is paused. */
const HIGH_WATER_BYTES = 4 * MIB;
/** ...and resumed once the receiver is down to this. */
const LOW_WATER_BYTES = MIB;
/** How long a closing handshake may take before both sockets are destroyed. */
const TERMINATE_AFTER_MS = 2_000;
const MAX_CLOSE_REASON_BYTES = 123;

/** Headers `ws` writes itself for the upstream handshake (or that describe the client's). */
const HANDSHAKE_HEADERS = new Set([
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** The subprotocols a client offered, in order; `undefined` when the header is malformed. */
function offeredProtocols(header: string | undefined): string[] | undefined {
  if (header === undefined) return [];
  const protocols: string[] = [];
  for (const part of header.split(',')) {
    const protocol = part.trim();
    if (!TOKEN.test(protocol) || protocols.includes(protocol)) return undefined;
    protocols.push(protocol);
  }
  return protocols;
}

/** Whether the client's request is a WebSocket handshake `ws` will complete. */
function isWebSocketHandshake(req: IncomingMessage): boolean {
  const version = req.headers['sec-websocket-version'];
  const key = req.headers['sec-websocket-key'];
  return (
    req.method === 'GET' &&
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    key !== undefined &&
    WEBSOCKET_KEY.test(key) &&
    (version === '13' || version === '8')
  );
}

function handshakeHeaders(
  headers: Readonly<Record<string, string | string[]>>,
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HANDSHAKE_HEADERS.has(name.toLowerCase())) continue;
    kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return kept;
}

function contextKey(idHash: string, context: EnforcementContext): string {
  return JSON.stringify([idHash, context.environment ?? null, context.app ?? null]);
}

function otherSide(side: Side): Side {
  return side === 'client' ? 'upstream' : 'client';
}

function checkWholeNumber(name: string, value: unknown, min: number, fix: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new OptionError(name, fix);
  }
  return value;
}

/**
 * The WebSocket side of the gateway: completes checked upgrades by connecting
 * the upstream first, then relays every message both ways while enforcing the
 * session (SPEC section 4, "WebSocket").
 *
 * - Client messages are genuine activity (server pushes too with
 *   `wsActivity: both`); touches are batched to at most one per session per
 *   `touchIntervalMs`.
 * - At the session's deadline (idle or absolute, translated from the store's
 *   clock to the local one) the session is re-checked passively, once per
 *   session; if it ended, both sides are closed with 4401
 *   `session_expired:<reason>`.
 * - No message is forwarded once the deadline has passed without a fresh ok
 *   verdict: a late message is held (in order) until the session is re-checked,
 *   and dropped if it ended.
 * - A revocation (through any instance sharing the store), a rotation or an
 *   expiry closes that session's connections at once; an unreachable store
 *   closes them with 1011 `session_store_unavailable` (fail closed).
 *
 * @example
 * import { WebSocketBridge } from './websocket/websocket-bridge.js';
 * const bridge = new WebSocketBridge({ lapse, logger });
 * server.on('upgrade', async (req, socket, head) => {
 *   const request = nodeRequest(req);
 *   const result = await lapse.handle(request, sink, route.context);
 *   if (result.action === 'next') {
 *     bridge.accept({ req, socket, head, request, context: route.context, route,
 *       verdict: result.session.verdict, upstreamUrl, upstreamHeaders });
 *   }
 * });
 */
export class WebSocketBridge {
  readonly #lapse: Lapse;
  readonly #logger: Logger;
  readonly #maxPayloadBytes: number;
  readonly #handshakeTimeoutMs: number;
  readonly #touchIntervalMs: number;
  readonly #now: () => number;
  readonly #server: WebSocketServer;
  /** The subprotocol the upstream chose, per client request, for `handleProtocols`. */
  readonly #chosenProtocols = new WeakMap<IncomingMessage, string>();
  readonly #connections = new Set<Connection>();
  readonly #sessions = new Map<string, WatchedSession>();
  readonly #deadlines: DeadlineBuckets<CheckGroup>;
  readonly #touchFlushes: DeadlineBuckets<WatchedSession>;
  readonly #terminations: DeadlineBuckets<Connection>;
  readonly #stopListening: () => void;
  #connectionNumber = 0;
  #isDisposed = false;

  constructor(options: WebSocketBridgeOptions) {
    if (options === null || typeof options !== 'object') {
      throw new OptionError('options', 'pass { lapse, logger }');
    }
    if (typeof options.lapse?.verify !== 'function') {
      throw new OptionError('lapse', 'pass the Lapse from createLapse()');
    }
    if (typeof options.logger?.child !== 'function') {
      throw new OptionError('logger', 'pass a pino logger');
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new OptionError('now', 'pass a function returning epoch milliseconds, e.g. Date.now');
    }
    this.#lapse = options.lapse;
    this.#logger = options.logger.child({ component: 'websocket' });
    this.#maxPayloadBytes = checkWholeNumber(
      'maxPayloadBytes',
      options.maxPayloadBytes ?? MIB,
      1,
      'use a whole number of bytes >= 1, e.g. 1048576',
    );
    this.#handshakeTimeoutMs = checkWholeNumber(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs ?? 10_000,
      1,
      'use a whole number of milliseconds >= 1, e.g. 10000',
    );
    this.#touchIntervalMs = checkWholeNumber(
      'touchIntervalMs',
      options.touchIntervalMs ?? 1_000,
      1,
      'use a whole number of milliseconds >= 1, e.g. 1000',
    );
    const bucketMs = checkWholeNumber(
      'bucketMs',
      options.bucketMs ?? 250,
      1,
      'use a whole number of milliseconds >= 1, e.g. 250',
    );
    const now = options.now ?? Date.now;
    this.#now = now;
    this.#server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.#maxPayloadBytes,
      handleProtocols: (_offered, req) => this.#chosenProtocols.get(req) || false,
    });
    this.#deadlines = new DeadlineBuckets({
      bucketMs,
      now,
      onDue: (groups) => this.#onDeadlines(groups),
    });
    this.#touchFlushes = new DeadlineBuckets({
      bucketMs,
      now,
      onDue: (sessions) => this.#onTouchFlushes(sessions),
    });
    this.#terminations = new DeadlineBuckets({
      bucketMs,
      now,
      onDue: (connections) => {
        for (const connection of connections) this.#terminate(connection);
      },
    });
    this.#stopListening = onSessionEnds(this.#lapse.authority, (idHash, reason) =>
      this.#endSession(idHash, reason),
    );
  }

  /** Open connections, including those still connecting upstream and those closing. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Complete a checked upgrade: connect the upstream first (offering the
   * client's subprotocols), then finish the client's handshake with the
   * subprotocol the upstream chose. An upstream that refuses, fails or times
   * out gets the client a `502` `{"error":"bad_gateway","reason":"upstream_unreachable"}`.
   */
  accept(upgrade: BridgedUpgrade): void {
    const { req, socket } = upgrade;
    if (this.#isDisposed) {
      answerUpgrade(socket, 503, 'Service Unavailable', {
        error: 'service_unavailable',
        reason: 'gateway_shutting_down',
      });
      return;
    }
    const protocols = offeredProtocols(req.headers['sec-websocket-protocol']);
    if (protocols === undefined || !isWebSocketHandshake(req)) {
      answerUpgrade(socket, 400, 'Bad Request', {
        error: 'bad_request',
        reason: 'invalid_websocket_handshake',
      });
      return;
    }
    const number = ++this.#connectionNumber;
    let upstream: WebSocket;
    try {
      upstream = new WebSocket(upgrade.upstreamUrl, protocols, {
        headers: handshakeHeaders(upgrade.upstreamHeaders),
        handshakeTimeout: this.#handshakeTimeoutMs,
        maxPayload: this.#maxPayloadBytes,
        perMessageDeflate: false,
        followRedirects: false,
      });
    } catch {
      // The message would hold the URL, and with it whatever the query carries.
      this.#logger.warn(
        { connection: number, upstream: upgrade.route.origin },
        'websocket upstream URL rejected',
      );
      this.#answerBadGateway(socket);
      return;
    }
    const { promise: closed, resolve: resolveClosed } = promiseWithResolver();
    const connection: Connection = {
      number,
      upgrade,
      group: this.#join(upgrade),
      isClientActivityOnly: upgrade.route.section.wsActivity !== 'both',
      upstream,
      client: undefined,
      state: 'connecting',
      isClientClosed: false,
      isUpstreamClosed: false,
      held: [],
      pendingClose: undefined,
      pauses: { client: new Set(), upstream: new Set() },
      ending: undefined,
      closed,
      resolveClosed,
      onRawError: () => {
        socket.destroy();
      },
      onRawClose: () => {
        if (connection.state !== 'connecting') return;
        this.#logger.debug({ connection: number }, 'websocket client left before the handshake');
        connection.state = 'closed';
        upstream.terminate();
        this.#finish(connection);
      },
    };
    if (connection.group !== undefined) connection.group.connections.add(connection);
    this.#connections.add(connection);
    socket.on('error', connection.onRawError);
    socket.on('close', connection.onRawClose);
    upstream.on('error', (error) => this.#onUpstreamError(connection, error));
    upstream.on('unexpected-response', (request, response) =>
      this.#relayRefusal(connection, request, response),
    );
    upstream.once('open', () => this.#completeHandshake(connection));
  }

  /**
   * The app answered the upgrade with something other than `101` (a `403`, a
   * `404`, a redirect): the client gets that status and body (at most 64 KiB,
   * hop-by-hop headers dropped), as for any request the gateway forwards,
   * rather than a `502` that would blame the network. A body still arriving
   * after 5 s is cut there.
   */
  #relayRefusal(connection: Connection, request: ClientRequest, response: IncomingMessage): void {
    if (connection.state !== 'connecting') {
      request.destroy();
      return;
    }
    connection.state = 'closed';
    const chunks: Buffer[] = [];
    let size = 0;
    let isSent = false;
    // A refusal whose body never ends is answered with what came within 5 s.
    const timer = setTimeout(() => send(), 5_000);
    timer.unref();
    const send = (): void => {
      if (isSent) return;
      isSent = true;
      clearTimeout(timer);
      const body = Buffer.concat(chunks);
      const status = response.statusCode ?? 502;
      const type = response.headers['content-type'];
      const location = response.headers.location;
      relayUpgradeAnswer(connection.upgrade.socket, status, response.statusMessage ?? '', body, [
        ...(typeof type === 'string' ? ([['Content-Type', type]] as const) : []),
        ...(typeof location === 'string' ? ([['Location', location]] as const) : []),
      ]);
      request.destroy();
      this.#finish(connection);
    };
    this.#logger.debug(
      { connection: connection.number, status: response.statusCode },
      'websocket upgrade refused by the upstream',
    );
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_RELAYED_REFUSAL_BYTES) chunks.push(chunk);
    });
    response.once('end', send);
    response.once('error', send);
  }

  /**
   * Close both sides of every connection (`code` 1001 and "gateway shutting
   * down" by default); connections still connecting get a `503`. Resolves when
   * every one is closed; a peer that does not answer the close is cut off
   * after 2 s.
   */
  closeAll(code: number = GOING_AWAY_CLOSE_CODE, reason = 'gateway shutting down'): Promise<void> {
    if (!Number.isInteger(code) || relayableCloseCode(code) !== code) {
      throw new OptionError('code', 'use 1000-1014 (not 1004-1006) or 3000-4999, e.g. 1001');
    }
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) {
      throw new OptionError('reason', `use at most ${MAX_CLOSE_REASON_BYTES} bytes`);
    }
    const open = [...this.#connections];
    for (const connection of open) this.#shutdown(connection, { code, reason, by: 'gateway' });
    return Promise.all(open.map((connection) => connection.closed)).then(() => undefined);
  }

  /**
   * Re-check every watched session now, passively (a session with activity
   * waiting for its touch is touched): call it after the policy changed
   * (`authority.setPolicy`), so a stricter policy bounds open connections at
   * once rather than at their next check.
   */
  recheckAll(): void {
    for (const session of this.#sessions.values()) {
      for (const group of session.groups.values()) {
        if (group.isChecking || group.connections.size === 0) continue;
        this.#check(group, session.pendingTouch === group ? 'touch' : 'peek');
      }
    }
  }

  /**
   * Stop listening for revocations and stop the timers. Without them nothing
   * is enforced any more, so any connection still open is cut off: call
   * {@link closeAll} first for a graceful close. Later upgrades get a `503`.
   */
  dispose(): void {
    if (this.#isDisposed) return;
    this.#isDisposed = true;
    this.#stopListening();
    for (const connection of [...this.#connections]) this.#terminate(connection);
    this.#deadlines.clear();
    this.#touchFlushes.clear();
    this.#terminations.clear();
    this.#server.close();
  }

  /** The check group an upgrade's connection joins, creating its session and group as needed. */
  #join(upgrade: BridgedUpgrade): CheckGroup | undefined {
    const { verdict } = upgrade;
    if (verdict === undefined || !verdict.ok) return undefined;
    const now = Math.min(this.#now(), upgrade.checkedAt ?? Number.POSITIVE_INFINITY);
    const { idHash } = verdict.record;
    let session = this.#sessions.get(idHash);
    if (session === undefined) {
      session = {
        idHash,
        groups: new Map(),
        lastTouchAt: Number.NEGATIVE_INFINITY,
        touchIntervalMs: this.#touchIntervalMs,
        pendingTouch: undefined,
      };
      this.#sessions.set(idHash, session);
    }
    // The gateway touched the session to let the upgrade through (unless it was passive).
    if (upgrade.isPassive !== true) session.lastTouchAt = Math.max(session.lastTouchAt, now);
    const key = contextKey(idHash, upgrade.context);
    let group = session.groups.get(key);
    if (group === undefined) {
      group = {
        key,
        session,
        context: upgrade.context,
        request: upgrade.request,
        connections: new Set(),
        deadline: Number.NEGATIVE_INFINITY,
        deadlineFrom: Number.NEGATIVE_INFINITY,
        isChecking: false,
      };
      session.groups.set(key, group);
    }
    group.request = upgrade.request;
    this.#adoptStatus(group, verdict.status, now);
    return group;
  }

  /** Take the deadline of an ok verdict asked for at local time `askedAt`, unless a newer one is held. */
  #adoptStatus(group: CheckGroup, status: SessionStatus, askedAt: number): void {
    const idleMs = status.policy.idleMs;
    group.session.touchIntervalMs =
      idleMs === null
        ? this.#touchIntervalMs
        : Math.max(1, Math.min(this.#touchIntervalMs, Math.floor(idleMs / 2)));
    if (askedAt >= group.deadlineFrom) {
      // Measured from when the check was asked, the local deadline is never later than the store's.
      group.deadline = askedAt + (nextDeadline(status) - status.now);
      group.deadlineFrom = askedAt;
    }
    this.#deadlines.add(group, group.deadline);
  }

  #completeHandshake(connection: Connection): void {
    const { upstream, upgrade } = connection;
    const { req, socket, head } = upgrade;
    if (connection.state !== 'connecting') {
      upstream.terminate();
      return;
    }
    if (socket.destroyed || !socket.writable) {
      this.#terminate(connection);
      return;
    }
    this.#chosenProtocols.set(req, upstream.protocol);
    // Nothing the upstream sends may be lost or passed on before the client is there.
    upstream.pause();
    this.#server.handleUpgrade(req, socket, head, (client) => {
      socket.removeListener('error', connection.onRawError);
      socket.removeListener('close', connection.onRawClose);
      if (connection.state !== 'connecting') {
        client.terminate();
        return;
      }
      connection.client = client;
      connection.state = 'open';
      this.#wire(connection, 'client', client);
      this.#wire(connection, 'upstream', upstream);
      upstream.resume();
      this.#logger.debug(
        {
          connection: connection.number,
          upstream: upgrade.route.origin,
          protocol: upstream.protocol || undefined,
          isEnforced: connection.group !== undefined,
        },
        'websocket bridged',
      );
    });
  }

  #wire(connection: Connection, side: Side, socket: WebSocket): void {
    socket.on('message', (data, isBinary) => this.#relay(connection, side, data, isBinary));
    socket.on('close', (code, reason) => this.#onSideClosed(connection, side, code, reason));
    if (side === 'client') {
      socket.on('error', (error) => this.#onSideError(connection, side, error));
    }
  }

  #onUpstreamError(connection: Connection, error: Error): void {
    if (connection.state === 'connecting') {
      this.#logger.warn(
        {
          connection: connection.number,
          upstream: connection.upgrade.route.origin,
          err: error.message,
        },
        'websocket upstream unreachable',
      );
      connection.state = 'closed';
      this.#answerBadGateway(connection.upgrade.socket);
      this.#finish(connection);
      return;
    }
    this.#onSideError(connection, 'upstream', error);
  }

  #answerBadGateway(socket: Duplex): void {
    answerUpgrade(socket, 502, 'Bad Gateway', {
      error: 'bad_gateway',
      reason: 'upstream_unreachable',
    });
  }

  #onSideError(connection: Connection, side: Side, error: Error): void {
    const code = (error as { code?: unknown }).code;
    this.#logger.debug(
      { connection: connection.number, side, code: typeof code === 'string' ? code : undefined },
      'websocket error',
    );
    // `ws` has closed (or destroyed) the failing side itself; the other side learns why.
    this.#shutdown(connection, {
      code: code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 1009 : 1011,
      reason: '',
      by: side,
    });
  }

  #onSideClosed(connection: Connection, side: Side, code: number, reason: Buffer): void {
    if (side === 'client') connection.isClientClosed = true;
    else connection.isUpstreamClosed = true;
    if (connection.state === 'open') {
      const isWaiting = connection.held.some((message) => message.to !== side);
      if (isWaiting) {
        // Messages this side sent before closing are held for a re-check: they go first.
        connection.pendingClose = { from: side, code, reason };
      } else {
        this.#passClose(connection, side, code, reason);
      }
    }
    if (connection.isClientClosed && connection.isUpstreamClosed) this.#finish(connection);
  }

  /** One side closed normally: close the other with the same code and reason. */
  #passClose(connection: Connection, from: Side, code: number, reason: Buffer): void {
    connection.state = 'closing';
    connection.ending = { code, reason: reason.toString(), by: from };
    connection.held = [];
    this.#releaseAllPauses(connection);
    const to = this.#socketOf(connection, otherSide(from));
    if (to !== undefined) closeSocket(to, relayableCloseCode(code), reason);
    this.#terminations.add(connection, this.#now() + TERMINATE_AFTER_MS);
  }

  /** End a connection on the bridge's own account: both sides closed with `ending`. */
  #shutdown(connection: Connection, ending: Ending): void {
    switch (connection.state) {
      case 'closing':
      case 'closed':
        return;
      case 'connecting':
        connection.state = 'closed';
        connection.ending = ending;
        this.#answerInstead(connection.upgrade.socket, ending);
        connection.upstream.terminate();
        this.#finish(connection);
        return;
      case 'open':
        connection.state = 'closing';
        connection.ending = ending;
        connection.held = [];
        connection.pendingClose = undefined;
        // A paused side could not read the peer's answer to the close.
        this.#releaseAllPauses(connection);
        if (connection.client !== undefined) {
          closeSocket(connection.client, ending.code, ending.reason);
        }
        closeSocket(connection.upstream, ending.code, ending.reason);
        this.#terminations.add(connection, this.#now() + TERMINATE_AFTER_MS);
        return;
    }
  }

  /** The HTTP answer of an upgrade ended before its handshake completed. */
  #answerInstead(socket: Duplex, ending: Ending): void {
    if (ending.rejectReason !== undefined) {
      const reason = ending.rejectReason;
      answerUpgrade(socket, 401, 'Unauthorized', { error: 'session_expired', reason }, [
        ['WWW-Authenticate', `Lapse error="session_expired", reason="${reason}"`],
      ]);
    } else if (ending.reason === STORE_UNAVAILABLE_CLOSE_REASON) {
      answerUpgrade(socket, 503, 'Service Unavailable', { error: 'session_store_unavailable' });
    } else {
      answerUpgrade(socket, 503, 'Service Unavailable', { error: 'service_unavailable' });
    }
  }

  #terminate(connection: Connection): void {
    if (connection.state === 'closed') return;
    if (connection.state === 'connecting') {
      connection.state = 'closed';
      connection.upgrade.socket.destroy();
      connection.upstream.terminate();
      this.#finish(connection);
      return;
    }
    connection.state = 'closing';
    connection.client?.terminate();
    connection.upstream.terminate();
  }

  /** Forget a connection that is closed on both sides. */
  #finish(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    connection.state = 'closed';
    connection.held = [];
    this.#terminations.delete(connection);
    const group = connection.group;
    if (group?.connections.delete(connection) && group.connections.size === 0) {
      this.#dropGroup(group);
    }
    const ending = connection.ending;
    this.#logger.debug(
      {
        connection: connection.number,
        code: ending?.code,
        reason: ending?.reason === '' ? undefined : ending?.reason,
        by: ending?.by,
      },
      'websocket closed',
    );
    connection.resolveClosed();
  }

  #dropGroup(group: CheckGroup): void {
    const { session } = group;
    this.#deadlines.delete(group);
    if (session.groups.get(group.key) === group) session.groups.delete(group.key);
    if (session.pendingTouch === group) session.pendingTouch = undefined;
    if (session.groups.size === 0) {
      this.#touchFlushes.delete(session);
      if (this.#sessions.get(session.idHash) === session) this.#sessions.delete(session.idHash);
    }
  }

  #socketOf(connection: Connection, side: Side): WebSocket | undefined {
    return side === 'client' ? connection.client : connection.upstream;
  }

  /** A message from `from`: forward it, or hold it when the deadline has passed. */
  #relay(connection: Connection, from: Side, data: RawData, isBinary: boolean): void {
    if (connection.state !== 'open') return;
    const to = otherSide(from);
    const group = connection.group;
    if (group === undefined) {
      this.#send(connection, to, data, isBinary);
      return;
    }
    const isActivity =
      connection.upgrade.isPassive !== true &&
      (from === 'client' || !connection.isClientActivityOnly);
    const arrivedAt = this.#now();
    if (connection.held.length > 0 || arrivedAt >= group.deadline) {
      connection.held.push({ to, data, isBinary, arrivedAt, isActivity });
      if (connection.held.length === 1) {
        this.#pause(connection, 'client', 'verifying');
        this.#pause(connection, 'upstream', 'verifying');
      }
      if (!group.isChecking) this.#check(group, isActivity ? 'touch' : 'peek');
      return;
    }
    this.#send(connection, to, data, isBinary);
    if (isActivity) this.#noteActivity(group, arrivedAt);
  }

  #send(connection: Connection, to: Side, data: RawData, isBinary: boolean): void {
    const target = this.#socketOf(connection, to);
    if (target === undefined || target.readyState !== WebSocket.OPEN) return;
    const from = otherSide(to);
    target.send(data as Buffer, { binary: isBinary }, () => {
      if (connection.pauses[from].has('backpressure') && target.bufferedAmount <= LOW_WATER_BYTES) {
        this.#resume(connection, from, 'backpressure');
      }
    });
    if (target.bufferedAmount > HIGH_WATER_BYTES) this.#pause(connection, from, 'backpressure');
  }

  #pause(connection: Connection, side: Side, cause: PauseCause): void {
    const causes = connection.pauses[side];
    const wasPaused = causes.size > 0;
    causes.add(cause);
    if (!wasPaused) this.#socketOf(connection, side)?.pause();
  }

  #resume(connection: Connection, side: Side, cause: PauseCause): void {
    const causes = connection.pauses[side];
    if (!causes.delete(cause) || causes.size > 0) return;
    this.#socketOf(connection, side)?.resume();
  }

  #releaseAllPauses(connection: Connection): void {
    for (const side of ['client', 'upstream'] as const) {
      if (connection.pauses[side].size === 0) continue;
      connection.pauses[side].clear();
      this.#socketOf(connection, side)?.resume();
    }
  }

  /** Genuine activity at `arrivedAt`: touch now, or at the end of the session's touch interval. */
  #noteActivity(group: CheckGroup, arrivedAt: number): void {
    const { session } = group;
    if (arrivedAt <= session.lastTouchAt) return;
    const now = this.#now();
    const dueAt = session.lastTouchAt + session.touchIntervalMs;
    if (!group.isChecking && now >= dueAt) {
      this.#check(group, 'touch');
      return;
    }
    session.pendingTouch = group;
    if (!this.#touchFlushes.has(session)) this.#touchFlushes.add(session, Math.max(dueAt, now));
  }

  #onTouchFlushes(sessions: readonly WatchedSession[]): void {
    for (const session of sessions) {
      const group = session.pendingTouch;
      if (group === undefined || group.connections.size === 0) continue;
      if (group.isChecking) this.#touchFlushes.add(session, this.#now());
      else this.#check(group, 'touch');
    }
  }

  #onDeadlines(groups: readonly CheckGroup[]): void {
    for (const group of groups) {
      // A check in flight reschedules the group when its verdict arrives.
      if (group.connections.size === 0 || group.isChecking) continue;
      // Activity waiting for its touch happened before the deadline: it counts.
      this.#check(group, group.session.pendingTouch === group ? 'touch' : 'peek');
    }
  }

  /** Ask the store about a group's session; one check per group at a time. */
  #check(group: CheckGroup, mode: 'touch' | 'peek'): void {
    group.isChecking = true;
    const { session } = group;
    const askedAt = this.#now();
    if (mode === 'touch') {
      session.lastTouchAt = askedAt;
      session.pendingTouch = undefined;
      this.#touchFlushes.delete(session);
    }
    this.#lapse.verify(group.request, mode, group.context).then(
      (verdict) => {
        group.isChecking = false;
        this.#guard(() => this.#onVerdict(group, verdict, askedAt));
      },
      (error: unknown) => {
        group.isChecking = false;
        this.#guard(() => this.#onCheckFailed(group, error));
      },
    );
  }

  #guard(step: () => void): void {
    try {
      step();
    } catch (error) {
      this.#logger.error({ err: error }, 'websocket bridge failed');
    }
  }

  #onVerdict(group: CheckGroup, verdict: Verdict, askedAt: number): void {
    if (group.connections.size === 0) return;
    if (!verdict.ok) {
      const { reason } = verdict;
      // `missing`/`invalid` speak of this request's credential; the others end the session everywhere.
      if (reason === 'missing' || reason === 'invalid') this.#endGroup(group, reason);
      else this.#endSession(group.session.idHash, reason);
      return;
    }
    this.#adoptStatus(group, verdict.status, askedAt);
    let next: 'touch' | 'peek' | undefined;
    for (const connection of [...group.connections]) {
      const needs = this.#release(connection);
      // A touch covers a peek too.
      if (needs !== undefined && next !== 'touch') next = needs;
    }
    if (next !== undefined && !group.isChecking && group.connections.size > 0) {
      this.#check(group, next);
    }
  }

  /**
   * Forward the held messages that arrived before the (new) deadline, in order.
   * Returns the check still needed for the rest, if any.
   */
  #release(connection: Connection): 'touch' | 'peek' | undefined {
    const group = connection.group;
    if (group === undefined || connection.state !== 'open') return undefined;
    while (connection.held.length > 0) {
      const message = connection.held[0] as HeldMessage;
      if (message.arrivedAt >= group.deadline) break;
      connection.held.shift();
      this.#send(connection, message.to, message.data, message.isBinary);
      if (message.isActivity) this.#noteActivity(group, message.arrivedAt);
      if (connection.state !== 'open') return undefined;
    }
    if (connection.held.length > 0) {
      return connection.held.some((message) => message.isActivity) ? 'touch' : 'peek';
    }
    this.#resume(connection, 'client', 'verifying');
    this.#resume(connection, 'upstream', 'verifying');
    const pending = connection.pendingClose;
    if (pending !== undefined) {
      connection.pendingClose = undefined;
      this.#passClose(connection, pending.from, pending.code, pending.reason);
      if (connection.isClientClosed && connection.isUpstreamClosed) this.#finish(connection);
    }
    return undefined;
  }

  #onCheckFailed(group: CheckGroup, error: unknown): void {
    if (group.connections.size === 0) return;
    const isStoreDown = error instanceof StoreUnavailableError;
    if (isStoreDown) {
      this.#logger.warn(
        { connections: group.connections.size },
        'websocket session check: store unavailable',
      );
    } else {
      this.#logger.error({ err: error }, 'websocket session check failed');
    }
    const reason = isStoreDown ? STORE_UNAVAILABLE_CLOSE_REASON : 'internal_error';
    for (const connection of [...group.connections]) {
      this.#shutdown(connection, { code: STORE_UNAVAILABLE_CLOSE_CODE, reason, by: 'lapse' });
    }
  }

  #endGroup(group: CheckGroup, reason: RejectReason): void {
    const ending: Ending = {
      code: SESSION_EXPIRED_CLOSE_CODE,
      reason: sessionExpiredReason(reason),
      rejectReason: reason,
      by: 'lapse',
    };
    for (const connection of [...group.connections]) this.#shutdown(connection, ending);
  }

  /** Close every connection of a session at once (revoked, rotated, expired). */
  #endSession(idHash: string, reason: RejectReason): void {
    const session = this.#sessions.get(idHash);
    if (session === undefined) return;
    for (const group of [...session.groups.values()]) this.#endGroup(group, reason);
  }
}

/** Close a `ws` socket, whatever state it is in, without throwing. */
function closeSocket(socket: WebSocket, code: number, reason: string | Buffer): void {
  if (socket.readyState === WebSocket.CLOSED) return;
  try {
    socket.close(code, reason);
  } catch {
    socket.terminate();
  }
}

function promiseWithResolver(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}
