/**
 * The WebSocket bridge over real sockets: a real upstream `ws` server, a real
 * node:http server whose `upgrade` handler does what the gateway does (check
 * with `lapse.handle`, then `bridge.accept`), and real `ws` clients. Timing
 * cases use short real timeouts (idle 2 s) with generous bounds; the
 * "held after the deadline" cases drive both clocks by hand and sleep not at all.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { nodeRequest } from '../../adapters/node/node-request.js';
import { createLapse, type Lapse } from '../../http/lapse.js';
import type { HttpResponseSpec } from '../../http/rejection.js';
import type { Policy } from '../../policy/types.js';
import { type Clock, ManualClock } from '../../session/clock.js';
import type { AccessMode, PolicyResolver } from '../../session/decide.js';
import { MemoryStore } from '../../store/memory-store.js';
import type { AccessResult } from '../../store/session-store.js';
import type { RouteSection } from '../config/types.js';
import { upstreamRequestHeaders } from '../forwarded-headers.js';
import { RouteTable } from '../route-table.js';
import { WebSocketBridge } from './websocket-bridge.js';

const SECOND = 1_000;

function policyOf(idleMs: number, absoluteMs: number): Policy {
  return {
    version: 1,
    comply: [],
    defaults: { idleMs, absoluteMs, warnMs: 0 },
    ceilings: {},
    rules: [],
    passive: [],
  };
}

/** A memory store that counts touches, so the batching can be seen. */
class CountingStore extends MemoryStore {
  touches = 0;

  override async access(
    idHash: string,
    mode: AccessMode,
    policy: PolicyResolver,
  ): Promise<AccessResult> {
    if (mode === 'touch') this.touches += 1;
    return super.access(idHash, mode, policy);
  }
}

interface Closed {
  readonly code: number;
  readonly reason: string;
  readonly at: number;
}

interface Received {
  readonly text: string;
  readonly isBinary: boolean;
}

/** One end of a WebSocket with everything it received and how it closed. */
interface Peer {
  readonly ws: WebSocket;
  readonly received: Received[];
  readonly closed: Promise<Closed>;
}

function observe(ws: WebSocket): Peer {
  const received: Received[] = [];
  ws.on('message', (data: RawData, isBinary: boolean) => {
    received.push({ text: (data as Buffer).toString('latin1'), isBinary });
  });
  ws.on('error', () => {});
  const closed = new Promise<Closed>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }));
  });
  return { ws, received, closed };
}

interface UpstreamPeer extends Peer {
  readonly req: IncomingMessage;
}

interface HarnessOptions {
  readonly policy: Policy;
  readonly store?: MemoryStore;
  readonly storeClock?: Clock;
  readonly now?: () => number;
  readonly wsActivity?: 'client' | 'both';
  readonly publicPaths?: readonly string[];
  /** Point the route at another port (nothing listening, or a silent server). */
  readonly upstreamPort?: number;
  readonly handshakeTimeoutMs?: number;
}

interface Harness {
  readonly lapse: Lapse;
  readonly store: MemoryStore;
  readonly bridge: WebSocketBridge;
  readonly url: string;
  /** Upstream connections, in order of arrival. */
  readonly upstreams: UpstreamPeer[];
  begin(): Promise<string>;
  connect(id: string | undefined, path?: string): Promise<Peer>;
  nextUpstream(): Promise<UpstreamPeer>;
  close(): Promise<void>;
}

function writeRawResponse(socket: Duplex, response: HttpResponseSpec): void {
  const body = response.body ?? '';
  const lines = [`HTTP/1.1 ${response.status} Lapse`, 'Connection: close'];
  for (const [name, value] of response.headers) lines.push(`${name}: ${value}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

const harnesses: Harness[] = [];

afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
});

async function start(options: HarnessOptions): Promise<Harness> {
  const upstreamServer = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false),
  });
  await once(upstreamServer, 'listening');
  const upstreams: UpstreamPeer[] = [];
  const waiting: Array<(peer: UpstreamPeer) => void> = [];
  upstreamServer.on('connection', (ws, req) => {
    const peer = { ...observe(ws), req };
    upstreams.push(peer);
    waiting.shift()?.(peer);
  });
  const upstreamPort = options.upstreamPort ?? (upstreamServer.address() as AddressInfo).port;

  const store =
    options.store ??
    new MemoryStore(
      options.storeClock === undefined ? {} : { clock: options.storeClock, sweepIntervalMs: 0 },
    );
  const lapse = createLapse({
    policy: options.policy,
    store,
    cookie: { development: true },
    ...(options.publicPaths === undefined ? {} : { public: options.publicPaths }),
  });
  const bridge = new WebSocketBridge({
    lapse,
    logger: pino({ level: 'silent' }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.handshakeTimeoutMs === undefined
      ? {}
      : { handshakeTimeoutMs: options.handshakeTimeoutMs }),
  });
  const section: RouteSection = {
    path: '/',
    upstream: `http://127.0.0.1:${upstreamPort}`,
    environment: 'test',
    injectClient: false,
    wsActivity: options.wsActivity ?? 'client',
  };
  const route = new RouteTable([section]).routes[0];
  if (route === undefined) throw new Error('no route');

  const server: Server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const request = nodeRequest(req);
    const sink = { set: () => {}, append: () => {} };
    const checkedAt = (options.now ?? Date.now)();
    lapse.handle(request, sink, route.context).then(
      (result) => {
        if (result.action === 'respond') {
          writeRawResponse(socket, result.response);
          return;
        }
        bridge.accept({
          req,
          socket,
          head,
          request,
          context: route.context,
          route,
          verdict: result.session.verdict,
          checkedAt,
          upstreamUrl: `ws://127.0.0.1:${upstreamPort}${route.basePath}${req.url ?? '/'}`,
          upstreamHeaders: upstreamRequestHeaders(req, {
            clientAddress: req.socket.remoteAddress,
            protocol: 'http',
            sessionCookie: 'lapse_sid',
            identity: undefined,
          }),
        });
      },
      () => socket.destroy(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const clients: WebSocket[] = [];
  const harness: Harness = {
    lapse,
    store,
    bridge,
    url,
    upstreams,
    begin: async () => (await lapse.authority.begin({ subject: 'u1' }, route.context)).id,
    connect: async (id, path = '/socket') => {
      const ws = new WebSocket(`${url}${path}`, ['chat.v1', 'chat.v2'], {
        headers: id === undefined ? {} : { cookie: `lapse_sid=${id}` },
      });
      clients.push(ws);
      const peer = observe(ws);
      await once(ws, 'open');
      return peer;
    },
    nextUpstream: () => {
      const waiting1 = upstreams.length;
      return new Promise<UpstreamPeer>((resolve) => {
        if (upstreams.length > waiting1) resolve(upstreams[waiting1] as UpstreamPeer);
        else waiting.push(resolve);
      });
    },
    close: async () => {
      for (const client of clients) client.terminate();
      bridge.dispose();
      for (const peer of upstreams) peer.ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => upstreamServer.close(() => resolve()));
      lapse.authority.dispose();
      await store.close();
    },
  };
  harnesses.push(harness);
  return harness;
}

/** Connect a client and wait for its upstream connection too. */
async function bridged(harness: Harness, id: string | undefined, path?: string) {
  const upstream = harness.nextUpstream();
  const client = await harness.connect(id, path);
  return { client, upstream: await upstream };
}

/** A TCP server that accepts connections and never answers: an upstream that hangs. */
async function startSilentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An upgrade the gateway answers with plain HTTP: its status and JSON body. */
async function failedUpgrade(
  harness: Harness,
  id: string,
): Promise<{ status: number | undefined; body: unknown }> {
  const ws = new WebSocket(`${harness.url}/socket`, { headers: { cookie: `lapse_sid=${id}` } });
  ws.on('error', () => {});
  const [, response] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  let body = '';
  for await (const chunk of response) body += String(chunk);
  ws.terminate();
  return { status: response.statusCode, body: JSON.parse(body) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Send `text` every `everyMs` until stopped. */
function keepSending(ws: WebSocket, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (ws.readyState === WebSocket.OPEN) ws.send('ping-ish');
  }, everyMs);
  return () => clearInterval(timer);
}

describe('WebSocketBridge: relaying', () => {
  it('relays text and binary messages both ways, keeping the subprotocol the upstream chose', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    expect(client.ws.protocol).toBe('chat.v2');
    expect(upstream.ws.protocol).toBe('chat.v2');
    // The session cookie is the gateway's, never the app's.
    expect(upstream.req.headers.cookie).toBeUndefined();
    expect(harness.bridge.connectionCount).toBe(1);

    client.ws.send('hello');
    client.ws.send(Buffer.from([1, 2, 3]));
    upstream.ws.send('welcome');
    upstream.ws.send(Buffer.from([9, 8]));
    await vi.waitFor(() => {
      expect(upstream.received).toEqual([
        { text: 'hello', isBinary: false },
        { text: '\x01\x02\x03', isBinary: true },
      ]);
      expect(client.received).toEqual([
        { text: 'welcome', isBinary: false },
        { text: '\x09\x08', isBinary: true },
      ]);
    });
  });

  it('passes a normal close on to the other side with the same code and reason', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    client.ws.close(4000, 'bye');
    expect(await upstream.closed).toMatchObject({ code: 4000, reason: 'bye' });
    await vi.waitFor(() => expect(harness.bridge.connectionCount).toBe(0));

    const second = await bridged(harness, id);
    second.upstream.ws.close(1000, 'done');
    expect(await second.client.closed).toMatchObject({ code: 1000, reason: 'done' });
  });

  it('bridges a public path without a session, with no deadline', async () => {
    const harness = await start({
      policy: policyOf(2 * SECOND, 600 * SECOND),
      publicPaths: ['/public/**'],
    });
    const { client, upstream } = await bridged(harness, undefined, '/public/feed');
    await sleep(2_600);
    upstream.ws.send('still here');
    await vi.waitFor(() =>
      expect(client.received).toEqual([{ text: 'still here', isBinary: false }]),
    );
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('stops reading from the sender while the receiver is slow, and relays everything in order after', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    const chunk = 512 * 1024;
    const count = 64;
    // A client that reads nothing: without backpressure the bridge would buffer all 32 MiB.
    client.ws.pause();
    for (let i = 0; i < count; i += 1) upstream.ws.send(Buffer.alloc(chunk, i), { binary: true });
    await sleep(500);
    expect(upstream.ws.bufferedAmount).toBeGreaterThan(0);
    client.ws.resume();
    await vi.waitFor(() => expect(client.received.length).toBe(count), { timeout: 15_000 });
    expect(client.received.map((message) => message.text.charCodeAt(0))).toEqual(
      Array.from({ length: count }, (_, i) => i),
    );
    expect(client.received.every((message) => message.text.length === chunk)).toBe(true);
  });

  it('closes both sides with 1009 when a message exceeds maxPayloadBytes', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    client.ws.send(Buffer.alloc(1024 * 1024 + 1));
    expect((await client.closed).code).toBe(1009);
    expect((await upstream.closed).code).toBe(1009);
    expect(upstream.received).toEqual([]);
  });

  it('answers 502 when the upstream refuses the connection', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const harness = await start({
      policy: policyOf(60 * SECOND, 600 * SECOND),
      upstreamPort: closedPort,
    });
    const id = await harness.begin();
    const response = await failedUpgrade(harness, id);
    expect(response.status).toBe(502);
    expect(response.body).toEqual({ error: 'bad_gateway', reason: 'upstream_unreachable' });
    await vi.waitFor(() => expect(harness.bridge.connectionCount).toBe(0));
  });

  it('answers 502 when the upstream does not complete its handshake in time', async () => {
    const silent = await startSilentServer();
    const harness = await start({
      policy: policyOf(60 * SECOND, 600 * SECOND),
      upstreamPort: silent.port,
      handshakeTimeoutMs: 300,
    });
    const id = await harness.begin();
    const response = await failedUpgrade(harness, id);
    expect(response.status).toBe(502);
    expect(response.body).toEqual({ error: 'bad_gateway', reason: 'upstream_unreachable' });
    await vi.waitFor(() => expect(harness.bridge.connectionCount).toBe(0));
    await silent.close();
  });

  it('answers 401 when the session is revoked while the upstream is still connecting', async () => {
    const silent = await startSilentServer();
    const harness = await start({
      policy: policyOf(60 * SECOND, 600 * SECOND),
      upstreamPort: silent.port,
    });
    const id = await harness.begin();
    const answer = failedUpgrade(harness, id);
    await vi.waitFor(() => expect(harness.bridge.connectionCount).toBe(1));
    await harness.lapse.authority.revoke(id);
    const response = await answer;
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'session_expired', reason: 'revoked' });
    expect(harness.bridge.connectionCount).toBe(0);
    await silent.close();
  });

  it('rejects an upgrade whose session has already expired with 401, without upgrading', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 9));
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND), storeClock: clock });
    const id = await harness.begin();
    clock.advance(61 * SECOND);
    const upstreamsBefore = harness.upstreams.length;
    const response = await failedUpgrade(harness, id);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'session_expired', reason: 'idle' });
    expect(harness.upstreams.length).toBe(upstreamsBefore);
    expect(harness.bridge.connectionCount).toBe(0);
  });

  it('closeAll closes both sides of every connection with 1001 and resolves when they are closed', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const first = await bridged(harness, id);
    const second = await bridged(harness, id);
    expect(harness.bridge.connectionCount).toBe(2);
    await harness.bridge.closeAll();
    expect(harness.bridge.connectionCount).toBe(0);
    for (const peer of [first.client, first.upstream, second.client, second.upstream]) {
      expect(await peer.closed).toMatchObject({ code: 1001, reason: 'gateway shutting down' });
    }
  });
});

describe('WebSocketBridge: session deadlines (real time, idle 2 s)', () => {
  it('closes both sides with 4401 session_expired:idle soon after the idle deadline', async () => {
    const harness = await start({ policy: policyOf(2 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const begunAt = Date.now();
    const { client, upstream } = await bridged(harness, id);
    const [clientClosed, upstreamClosed] = await Promise.all([client.closed, upstream.closed]);
    expect(clientClosed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(upstreamClosed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    // The deadline is ~2 s after the upgrade's touch, which came after begunAt.
    expect(clientClosed.at - begunAt).toBeGreaterThanOrEqual(1_900);
    expect(clientClosed.at - begunAt).toBeLessThan(2_000 + 1_500 + 500);
    await vi.waitFor(() => expect(harness.bridge.connectionCount).toBe(0));
  });

  it('counts client messages as activity, with at most about one touch a second per session', async () => {
    const store = new CountingStore();
    const harness = await start({ policy: policyOf(2 * SECOND, 600 * SECOND), store });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    const second = await bridged(harness, id);
    const touchesAtUpgrade = store.touches;
    const stop = keepSending(client.ws, 100);
    const stopSecond = keepSending(second.client.ws, 70);
    await sleep(4_500);
    stop();
    stopSecond();
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(second.client.ws.readyState).toBe(WebSocket.OPEN);
    const touches = store.touches - touchesAtUpgrade;
    // ~100 messages on two connections in 4.5 s: one touch per second (plus bucket slack).
    expect(touches).toBeGreaterThanOrEqual(3);
    expect(touches).toBeLessThanOrEqual(6);
    expect(upstream.received.length).toBeGreaterThan(30);
    const stoppedAt = Date.now();
    const closed = await client.closed;
    expect(closed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(closed.at - stoppedAt).toBeLessThan(2_000 + 1_500 + 500);
  });

  it('does not count server pushes as activity', async () => {
    const harness = await start({ policy: policyOf(2 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const connectedAt = Date.now();
    const { client, upstream } = await bridged(harness, id);
    const stop = keepSending(upstream.ws, 100);
    const closed = await client.closed;
    stop();
    expect(closed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(closed.at - connectedAt).toBeLessThan(2_000 + 1_500 + 500);
    expect(client.received.length).toBeGreaterThan(5);
  });

  it('counts server pushes as activity on a route with wsActivity: both', async () => {
    const harness = await start({ policy: policyOf(2 * SECOND, 600 * SECOND), wsActivity: 'both' });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    const stop = keepSending(upstream.ws, 100);
    await sleep(4_500);
    stop();
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect(await client.closed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
  });

  it('closes at the absolute deadline whatever the activity', async () => {
    const harness = await start({ policy: policyOf(2 * SECOND, 3 * SECOND) });
    const id = await harness.begin();
    const begunAt = Date.now();
    const { client, upstream } = await bridged(harness, id);
    const stop = keepSending(client.ws, 100);
    const [clientClosed, upstreamClosed] = await Promise.all([client.closed, upstream.closed]);
    stop();
    expect(clientClosed).toMatchObject({ code: 4401, reason: 'session_expired:absolute' });
    expect(upstreamClosed).toMatchObject({ code: 4401, reason: 'session_expired:absolute' });
    expect(clientClosed.at - begunAt).toBeGreaterThanOrEqual(2_900);
    expect(clientClosed.at - begunAt).toBeLessThan(3_000 + 1_500 + 500);
  });
});

describe('WebSocketBridge: revocation', () => {
  it('closes every connection of a revoked session at once with session_expired:revoked', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const other = await harness.begin();
    const first = await bridged(harness, id);
    const second = await bridged(harness, id);
    const bystander = await bridged(harness, other);
    const revokedAt = Date.now();
    await harness.lapse.authority.revoke(id);
    const closes = await Promise.all([
      first.client.closed,
      first.upstream.closed,
      second.client.closed,
      second.upstream.closed,
    ]);
    for (const closed of closes) {
      expect(closed).toMatchObject({ code: 4401, reason: 'session_expired:revoked' });
      expect(closed.at - revokedAt).toBeLessThan(1_000);
    }
    expect(bystander.client.ws.readyState).toBe(WebSocket.OPEN);
    await vi.waitFor(() => expect(harness.bridge.connectionCount).toBe(1));
  });

  it('closes the connection when the session is revoked through another instance sharing the store', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    const elsewhere = createLapse({
      policy: policyOf(60 * SECOND, 600 * SECOND),
      store: harness.store,
    });
    const revokedAt = Date.now();
    await elsewhere.authority.revoke(id, 'admin');
    const [clientClosed, upstreamClosed] = await Promise.all([client.closed, upstream.closed]);
    expect(clientClosed).toMatchObject({ code: 4401, reason: 'session_expired:revoked' });
    expect(upstreamClosed).toMatchObject({ code: 4401, reason: 'session_expired:revoked' });
    expect(clientClosed.at - revokedAt).toBeLessThan(1_000);
    elsewhere.authority.dispose();
  });

  it('closes the connections of a rotated (retired) id with session_expired:revoked', async () => {
    const harness = await start({ policy: policyOf(60 * SECOND, 600 * SECOND) });
    const id = await harness.begin();
    const { client } = await bridged(harness, id);
    const rotated = await harness.lapse.authority.rotate(id);
    expect(rotated.ok).toBe(true);
    expect(await client.closed).toMatchObject({ code: 4401, reason: 'session_expired:revoked' });
  });
});

describe('WebSocketBridge: a message after the deadline (clocks driven by hand)', () => {
  const START = Date.UTC(2026, 0, 1, 9);

  /** The store's clock and the bridge's local clock, far apart (skew) but moved together. */
  async function startManual() {
    const storeClock = new ManualClock(START);
    let local = 1_000_000;
    const harness = await start({
      policy: policyOf(10 * SECOND, 600 * SECOND),
      storeClock,
      now: () => local,
    });
    const advance = (ms: number) => {
      storeClock.advance(ms);
      local += ms;
    };
    return { harness, storeClock, advance };
  }

  it('holds a server push that arrives after the deadline and drops it when the session has ended', async () => {
    const { harness, advance } = await startManual();
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    advance(10 * SECOND);
    upstream.ws.send('too late');
    const [clientClosed, upstreamClosed] = await Promise.all([client.closed, upstream.closed]);
    expect(clientClosed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(upstreamClosed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(client.received).toEqual([]);
  });

  it('holds a client message that arrives after the deadline and never forwards it when the session has ended', async () => {
    const { harness, advance } = await startManual();
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    advance(10 * SECOND + 1);
    client.ws.send('too late');
    client.ws.send('later still');
    expect(await upstream.closed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(upstream.received).toEqual([]);
  });

  it('forwards held messages in order once a re-check finds the session extended elsewhere', async () => {
    const { harness, advance } = await startManual();
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    advance(5 * SECOND);
    // Another request (an HTTP one, say) keeps the session alive: the bridge's deadline is now stale.
    expect((await harness.lapse.authority.check(id, { environment: 'test' })).ok).toBe(true);
    advance(6 * SECOND);
    upstream.ws.send('one');
    upstream.ws.send('two');
    upstream.ws.send('three');
    await vi.waitFor(() =>
      expect(client.received.map((message) => message.text)).toEqual(['one', 'two', 'three']),
    );
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('touches the session for a held client message and forwards it while the session lives', async () => {
    const { harness, advance } = await startManual();
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    advance(5 * SECOND);
    expect((await harness.lapse.authority.check(id, { environment: 'test' })).ok).toBe(true);
    advance(6 * SECOND);
    client.ws.send('a');
    client.ws.send('b');
    await vi.waitFor(() =>
      expect(upstream.received.map((message) => message.text)).toEqual(['a', 'b']),
    );
    // The held message was genuine activity: the session now runs 10 s from it.
    advance(9 * SECOND);
    const verdict = await harness.lapse.authority.status(id, { environment: 'test' });
    expect(verdict.ok).toBe(true);
  });

  it('re-checks open connections at once after a stricter policy, on recheckAll', async () => {
    const { harness, advance } = await startManual();
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    advance(6 * SECOND);
    harness.lapse.authority.setPolicy(policyOf(5 * SECOND, 600 * SECOND));
    harness.bridge.recheckAll();
    const [clientClosed, upstreamClosed] = await Promise.all([client.closed, upstream.closed]);
    expect(clientClosed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
    expect(upstreamClosed).toMatchObject({ code: 4401, reason: 'session_expired:idle' });
  });

  it('fails closed with 1011 session_store_unavailable when the store cannot be reached', async () => {
    const { harness, advance } = await startManual();
    const id = await harness.begin();
    const { client, upstream } = await bridged(harness, id);
    advance(10 * SECOND);
    await harness.store.close();
    upstream.ws.send('unverifiable');
    const [clientClosed, upstreamClosed] = await Promise.all([client.closed, upstream.closed]);
    expect(clientClosed).toMatchObject({ code: 1011, reason: 'session_store_unavailable' });
    expect(upstreamClosed).toMatchObject({ code: 1011, reason: 'session_store_unavailable' });
    expect(client.received).toEqual([]);
  });
});
