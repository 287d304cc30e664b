/**
 * WebSockets through the gateway, end to end over real sockets: a real `ws`
 * upstream, real gateways, short real timeouts asserted with generous
 * tolerance. Revocation on one gateway closes a socket held by another that
 * shares the same Redis.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { formatIdentityHeader } from '../src/gateway/identity-header.js';
import { gatewayYaml, type RunningGateway, startGateway } from './helpers/gateway-harness.js';
import { cookieValue, rawRequest } from './helpers/http-client.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let upstreamServer: Server;
let upstreamUrl: string;
let pushTimer: ReturnType<typeof setInterval>;
const upstreamSockets = new Set<WebSocket>();
const upstreamCloses: Array<{ code: number; reason: string }> = [];

beforeAll(async () => {
  upstreamServer = createServer((req, res) => {
    if (req.url === '/login') res.setHeader('Lapse-Begin', formatIdentityHeader({ subject: 'u1' }));
    res.end('ok');
  });
  const wss = new WebSocketServer({
    server: upstreamServer,
    // The app refuses the upgrade of /forbidden itself: 403, its own body.
    verifyClient: (info, done) =>
      info.req.url === '/forbidden' ? done(false, 403, 'Forbidden') : done(true),
  });
  wss.on('connection', (socket, req) => {
    upstreamSockets.add(socket);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('close', (code, reason) => {
      upstreamSockets.delete(socket);
      upstreamCloses.push({ code, reason: reason.toString() });
    });
    socket.send(JSON.stringify({ hello: req.headers['lapse-identity'] ?? null }));
  });
  // The upstream pushes to every socket every 200 ms: not activity (wsActivity: client).
  pushTimer = setInterval(() => {
    for (const socket of upstreamSockets) socket.send('push');
  }, 200);
  await new Promise<void>((resolve) => upstreamServer.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstreamServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  clearInterval(pushTimer);
  upstreamServer.closeAllConnections();
  await new Promise((resolve) => upstreamServer.close(resolve));
});

const gateways: RunningGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
});

async function gatewayWith(policy: string, store = 'store: { type: memory }', route?: string) {
  const gateway = await startGateway(
    gatewayYaml(upstreamUrl, { policy, store, ...(route === undefined ? {} : { route }) }),
  );
  gateways.push(gateway);
  return gateway;
}

async function signIn(gateway: RunningGateway): Promise<string> {
  const res = await rawRequest(gateway.url, 'POST', '/login');
  const id = cookieValue(res.cookies, 'lapse_sid');
  if (id === undefined) throw new Error(`no session: ${res.status}`);
  return id;
}

interface Opened {
  socket: WebSocket;
  messages: string[];
  closed: Promise<{ code: number; reason: string; afterMs: number }>;
}

function open(gateway: RunningGateway, id: string, protocols?: string[]): Promise<Opened> {
  const started = Date.now();
  const socket = new WebSocket(`${gateway.url.replace('http', 'ws')}/live`, protocols, {
    headers: { cookie: `lapse_sid=${id}` },
  });
  const messages: string[] = [];
  socket.on('message', (data) => messages.push(data.toString()));
  const closed = new Promise<{ code: number; reason: string; afterMs: number }>((resolve) =>
    socket.on('close', (code, reason) =>
      resolve({ code, reason: reason.toString(), afterMs: Date.now() - started }),
    ),
  );
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, messages, closed }));
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused: ${res.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WebSockets through the gateway', () => {
  it("relays the app's own refusal of an upgrade (its status and body), not a 502", async () => {
    const gateway = await gatewayWith('policy:\n  defaults: { idle: 60s, absolute: 1h, warn: 0s }');
    const id = await signIn(gateway);
    const socket = new WebSocket(`${gateway.url.replace('http', 'ws')}/forbidden`, {
      headers: { cookie: `lapse_sid=${id}` },
    });
    const refusal = await new Promise<{ status: number; type: string; body: string }>(
      (resolve, reject) => {
        socket.once('open', () => reject(new Error('the upgrade went through')));
        socket.once('error', reject);
        socket.once('unexpected-response', (request, response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => {
            request.destroy();
            resolve({
              status: response.statusCode ?? 0,
              type: String(response.headers['content-type']),
              body,
            });
          });
        });
      },
    );
    expect(refusal).toEqual({ status: 403, type: 'text/html', body: 'Forbidden' });
    await expect.poll(() => gateway.gateway.webSocketCount).toBe(0);
  });

  it('relays both ways, keeps the subprotocol and tells the upstream who is signed in', async () => {
    const gateway = await gatewayWith('policy:\n  defaults: { idle: 60s, absolute: 1h, warn: 0s }');
    const id = await signIn(gateway);
    const { socket, messages } = await open(gateway, id, ['chat.v1']);
    expect(socket.protocol).toBe('chat.v1');
    socket.send('ping-from-client');
    await sleep(300);
    expect(messages[0]).toContain('subject=\\"u1\\"');
    expect(messages).toContain('ping-from-client');
    socket.close(1000);
  });

  it('refuses the upgrade of an expired or missing session with 401', async () => {
    const gateway = await gatewayWith('policy:\n  defaults: { idle: 60s, absolute: 1h, warn: 0s }');
    await expect(open(gateway, 'not-a-session')).rejects.toThrow('401');
  });

  it('closes both sides with 4401 session_expired:idle at the idle deadline; server pushes are not activity', async () => {
    const gateway = await gatewayWith('policy:\n  defaults: { idle: 2s, absolute: 1h, warn: 0s }');
    const id = await signIn(gateway);
    const before = upstreamCloses.length;
    const { closed, messages } = await open(gateway, id);
    const { code, reason, afterMs } = await closed;
    expect(code).toBe(4401);
    expect(reason).toBe('session_expired:idle');
    expect(afterMs).toBeGreaterThan(1_500);
    expect(afterMs).toBeLessThan(4_500);
    expect(messages.filter((message) => message === 'push').length).toBeGreaterThan(3);
    await sleep(200);
    expect(upstreamCloses.slice(before)).toContainEqual({
      code: 4401,
      reason: 'session_expired:idle',
    });
    // And the session is over for HTTP too.
    expect((await rawRequest(gateway.url, 'GET', '/x', { cookie: `lapse_sid=${id}` })).status).toBe(
      401,
    );
  });

  it('keeps the session alive while the client sends, and ends it at the absolute deadline anyway', async () => {
    const gateway = await gatewayWith(
      'policy:\n  defaults: { idle: 1500ms, absolute: 4s, warn: 0s }',
    );
    const id = await signIn(gateway);
    const { socket, closed } = await open(gateway, id);
    const typing = setInterval(() => {
      if (socket.readyState === WebSocket.OPEN) socket.send('typing');
    }, 300);
    const { code, reason, afterMs } = await closed;
    clearInterval(typing);
    expect(code).toBe(4401);
    expect(reason).toBe('session_expired:absolute');
    // Well past the idle timeout: the client's messages kept it alive until the absolute deadline.
    expect(afterMs).toBeGreaterThan(3_000);
    expect(afterMs).toBeLessThan(6_500);
  });

  it('counts server pushes as activity on a route with wsActivity: both', async () => {
    const gateway = await gatewayWith(
      'policy:\n  defaults: { idle: 1s, absolute: 3s, warn: 0s }',
      undefined,
      'wsActivity: both',
    );
    const id = await signIn(gateway);
    const { closed } = await open(gateway, id);
    const { reason, afterMs } = await closed;
    expect(reason).toBe('session_expired:absolute');
    expect(afterMs).toBeGreaterThan(2_000);
  });

  it('closes with 1001 when the gateway shuts down', async () => {
    const gateway = await gatewayWith('policy:\n  defaults: { idle: 60s, absolute: 1h, warn: 0s }');
    const id = await signIn(gateway);
    const { closed } = await open(gateway, id);
    await gateway.close();
    expect((await closed).code).toBe(1001);
  });

  it('closes a socket held by another gateway instance when the session is revoked (shared Redis)', async () => {
    const prefix = `lapse-ws-test-${randomBytes(4).toString('hex')}:`;
    const store = `store: { type: redis, url: "${REDIS_URL}", keyPrefix: "${prefix}" }`;
    const policy = 'policy:\n  defaults: { idle: 60s, absolute: 1h, warn: 0s }';
    const first = await gatewayWith(policy, store);
    const second = await gatewayWith(policy, store);
    const id = await signIn(first);
    const { closed } = await open(second, id);
    const revokedAt = Date.now();
    const logout = await rawRequest(first.url, 'POST', '/_lapse/logout', {
      cookie: `lapse_sid=${id}`,
      'x-lapse': '1',
      'sec-fetch-site': 'same-origin',
    });
    expect(logout.status).toBe(200);
    const { code, reason } = await closed;
    expect(code).toBe(4401);
    expect(reason).toBe('session_expired:revoked');
    expect(Date.now() - revokedAt).toBeLessThan(1_500);
  });
});
