/**
 * Responses that stream (server-sent events) end with their session, as
 * WebSockets do: at its idle deadline, later when other requests kept the
 * session alive, and at once on a revocation. Real sockets, a real upstream,
 * real time with a 2 s idle timeout; every bound is generous.
 */
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSessionId } from '../src/session/session-id.js';
import {
  answerSignInOut,
  gatewayYaml,
  type RunningGateway,
  sessionCookie,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers/gateway-harness.js';
import { cookieValue, rawRequest } from './helpers/http-client.js';

const IDLE_MS = 2_000;
/** How late after its deadline a stream may end: a 250 ms bucket plus a re-check, with room to spare. */
const LATE_MS = 1_500;
const POLICY = `
policy:
  defaults: { idle: 2s, absolute: 60s, warn: 1s }
`;

let upstream: Upstream;
let running: RunningGateway;

beforeEach(async () => {
  upstream = await startUpstream((req, res) => {
    if (answerSignInOut(req, res)) return;
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      let tick = 0;
      const timer = setInterval(() => res.write(`data: ${tick++}\n\n`), 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (req.url === '/download') {
      // A known length, sent slowly: a download, not a stream.
      const body = 'x'.repeat(30);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(body.slice(sent, sent + 1));
        sent += 1;
        if (sent === body.length) {
          clearInterval(timer);
          res.end();
        }
      }, 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    res.end('ok');
  });
  running = await startGateway(gatewayYaml(upstream.url, { policy: POLICY }));
});

afterEach(async () => {
  await running.close();
  await upstream.close();
});

async function signIn(): Promise<string> {
  const response = await rawRequest(running.url, 'POST', '/login?as=ann');
  return cookieValue(response.cookies, 'lapse_sid') as string;
}

interface Watched {
  /** When the request was sent, and when its head arrived (Date.now()). */
  readonly sentAt: number;
  readonly headAt: number;
  readonly status: number;
  /** Resolves with when the response ended or broke, and the bytes it carried. */
  readonly ended: Promise<{ at: number; bytes: number; isComplete: boolean }>;
}

function watch(path: string, id: string): Promise<Watched> {
  const url = new URL(path, running.url);
  const sentAt = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: sessionCookie(id) }, (res) => {
      const headAt = Date.now();
      let bytes = 0;
      const ended = new Promise<{ at: number; bytes: number; isComplete: boolean }>((done) => {
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () => done({ at: Date.now(), bytes, isComplete: true }));
        res.on('error', () => done({ at: Date.now(), bytes, isComplete: false }));
        res.on('aborted', () => done({ at: Date.now(), bytes, isComplete: false }));
      });
      resolve({ sentAt, headAt, status: res.statusCode ?? 0, ended });
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('streaming responses end with their session', () => {
  it('breaks a server-sent event stream at its idle deadline, not before', async () => {
    const id = await signIn();
    const stream = await watch('/events', id);
    expect(stream.status).toBe(200);
    const end = await stream.ended;
    expect(end.isComplete).toBe(false);
    expect(end.bytes).toBeGreaterThan(0);
    // The request itself was the last activity: its deadline is IDLE_MS after it.
    expect(end.at).toBeGreaterThanOrEqual(stream.sentAt + IDLE_MS - 50);
    expect(end.at).toBeLessThanOrEqual(stream.headAt + IDLE_MS + LATE_MS);
    expect((await rawRequest(running.url, 'GET', '/events', sessionCookie(id))).status).toBe(401);
  });

  it('keeps a stream going while other requests keep its session alive', async () => {
    const id = await signIn();
    const stream = await watch('/events', id);
    await sleep(1_200);
    const touchedAt = Date.now();
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(200);
    const end = await stream.ended;
    // Past the stream's own first deadline, ended at the one the later request set.
    expect(end.at).toBeGreaterThanOrEqual(touchedAt + IDLE_MS - 50);
    expect(end.at).toBeLessThanOrEqual(touchedAt + IDLE_MS + LATE_MS);
  });

  it('breaks a stream at once when its session is revoked', async () => {
    const id = await signIn();
    const stream = await watch('/events', id);
    await sleep(300);
    const revokedAt = Date.now();
    await running.gateway.lapse.authority.revokeHash(hashSessionId(id), 'admin');
    const end = await stream.ended;
    expect(end.isComplete).toBe(false);
    expect(end.at - revokedAt).toBeLessThan(1_000);
  });

  it('lets a response of known length finish, even past the deadline (it was accepted in time)', async () => {
    const id = await signIn();
    const download = await watch('/download', id);
    const end = await download.ended;
    expect(end).toMatchObject({ isComplete: true, bytes: 30 });
    expect(end.at - download.sentAt).toBeGreaterThan(IDLE_MS);
  });
});
