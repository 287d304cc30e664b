/**
 * The admin listener over real sockets, in front of a real gateway and a
 * real upstream: metrics scraped after scripted traffic, the audit trail
 * parsed line by line, the admin API's token checks and every endpoint. The
 * store and the observers share one ManualClock, so nothing sleeps.
 */
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminServer } from '../src/admin/admin-server.js';
import { StoreUnavailableError } from '../src/errors.js';
import { createLapse } from '../src/http/lapse.js';
import { observeLapse } from '../src/observe/observability.js';
import { loadPolicy } from '../src/policy/load-policy.js';
import { ManualClock } from '../src/session/clock.js';
import { hashSessionId } from '../src/session/session-id.js';
import { MemoryStore } from '../src/store/memory-store.js';
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

const SECOND = 1_000;
const START = Date.UTC(2026, 10, 28, 9);
const TOKEN = 'admin-token-for-tests-0123456789';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const SAME_ORIGIN = { 'x-lapse': '1', 'sec-fetch-site': 'same-origin' };
const SALT = 'a-salt-of-at-least-16-characters';

/** The app: its own sign-in and sign-out (Lapse-Begin, Lapse-End), and `ok` for the rest. */
function appHandler(
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
): void {
  if (!answerSignInOut(req, res)) res.end('ok');
}

/** Audit lines, as the audit log writes them. */
class LineSink {
  readonly lines: string[] = [];
  write(chunk: string): boolean {
    for (const line of chunk.split('\n')) if (line.length > 0) this.lines.push(line);
    return true;
  }
  events(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

let upstream: Upstream;
let running: RunningGateway;
let clock: ManualClock;
let audit: LineSink;
let gatewayLogs: LineSink;
let adminUrl: string;

async function start(extra = `admin: { listen: 127.0.0.1:0, token: env:ADMIN_TOKEN }`) {
  clock = new ManualClock(START);
  audit = new LineSink();
  gatewayLogs = new LineSink();
  running = await startGateway(gatewayYaml(upstream.url, { extra }), {
    logDestination: gatewayLogs,
    store: new MemoryStore({ clock, sweepIntervalMs: 3_600_000 }),
    env: { ADMIN_TOKEN: TOKEN },
    observability: {
      audit: { destination: audit, salt: SALT },
      clock,
      clockSkewIntervalMs: 0,
      census: { maxAgeMs: 0 },
    },
    admin: true,
  });
  adminUrl = running.gateway.adminUrl as string;
}

async function signIn(subject = 'alice', role = 'user'): Promise<string> {
  const response = await rawRequest(running.url, 'POST', `/login?as=${subject}&role=${role}`);
  const id = cookieValue(response.cookies, 'lapse_sid');
  if (id === undefined) throw new Error(`no session cookie (${response.status})`);
  return id;
}

function admin(method: string, path: string, headers: Record<string, string> = BEARER) {
  return rawRequest(adminUrl, method, path, headers);
}

async function adminJson(method: string, path: string): Promise<Record<string, unknown>> {
  const response = await admin(method, path);
  expect(response.status, response.body).toBe(200);
  return response.json() as Record<string, unknown>;
}

async function adminJsonWith(path: string, headers: Record<string, string>) {
  const response = await admin('GET', path, headers);
  expect(response.status).toBe(200);
  return { body: response.json() };
}

/** `name{labels} value` lines of a scrape, as a map. */
async function scrape(): Promise<Map<string, number>> {
  const response = await admin('GET', '/metrics');
  expect(response.status).toBe(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain/);
  const samples = new Map<string, number>();
  for (const line of response.body.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

beforeEach(async () => {
  upstream = await startUpstream(appHandler);
});

afterEach(async () => {
  await running?.close();
  await upstream.close();
});

describe('metrics after scripted traffic', () => {
  beforeEach(() => start());

  it('counts sessions, requests by verdict, extensions and ends with the SPEC names', async () => {
    const id = await signIn('alice');
    for (let i = 0; i < 3; i += 1) {
      expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(200);
    }
    expect((await rawRequest(running.url, 'GET', '/api/poll', sessionCookie(id))).status).toBe(200);
    expect(
      (
        await rawRequest(running.url, 'POST', '/_lapse/extend', {
          ...sessionCookie(id),
          ...SAME_ORIGIN,
        })
      ).status,
    ).toBe(200);
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie('garbage'))).status).toBe(
      401,
    );
    clock.advance(61 * SECOND);
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(401);
    const other = await signIn('bob');
    expect((await rawRequest(running.url, 'POST', '/logout', sessionCookie(other))).status).toBe(
      200,
    );

    const samples = await scrape();
    expect(samples.get('lapse_sessions_started_total')).toBe(2);
    expect(samples.get('lapse_extensions_total')).toBe(1);
    expect(samples.get('lapse_sessions_ended_total{reason="idle"}')).toBe(1);
    expect(samples.get('lapse_sessions_ended_total{reason="revoked"}')).toBe(1);
    expect(samples.get('lapse_sessions_ended_total{reason="absolute"}')).toBe(0);
    // 3 pages + the extend + bob's logout request (checked before it is forwarded).
    expect(samples.get('lapse_requests_total{verdict="allowed"}')).toBe(5);
    expect(samples.get('lapse_requests_total{verdict="passive"}')).toBe(1);
    // garbage cookie, alice after her idle deadline.
    expect(samples.get('lapse_requests_total{verdict="rejected"}')).toBe(2);
    expect(samples.get('lapse_requests_total{verdict="unavailable"}')).toBe(0);
    expect(samples.get('lapse_check_duration_seconds_count')).toBe(8);
    expect(samples.get('lapse_sessions_active')).toBe(0);
    expect(samples.get('lapse_sessions_warning')).toBe(0);
    expect(samples.get('lapse_ws_connections')).toBe(0);
    expect(samples.get('lapse_store_errors_total')).toBe(0);
    expect(samples.get('lapse_policy_reloads_total{result="ok"}')).toBe(0);
    expect(samples.get('lapse_anomalies_total{kind="past_deadline"}')).toBe(0);
    for (const name of samples.keys()) {
      expect(name).not.toMatch(/alice|bob|subject|session_id/);
    }
  });

  it('counts live sessions and those in their warning period at scrape time', async () => {
    await signIn('alice');
    await signIn('root', 'admin');
    let samples = await scrape();
    expect(samples.get('lapse_sessions_active')).toBe(2);
    expect(samples.get('lapse_sessions_warning')).toBe(0);
    // admins: idle 30 s, warn clamped to 15 s -> warning from 15 s; users: idle 60 s -> from 40 s.
    clock.advance(15 * SECOND);
    samples = await scrape();
    expect(samples.get('lapse_sessions_active')).toBe(2);
    expect(samples.get('lapse_sessions_warning')).toBe(1);
  });
});

describe('the audit trail', () => {
  beforeEach(() => start());

  it('writes one JSON line per event kind, with a salted session hash and never an id or a token', async () => {
    const id = await signIn('alice');
    await rawRequest(running.url, 'POST', '/_lapse/extend', {
      ...sessionCookie(id),
      ...SAME_ORIGIN,
    });
    clock.advance(61 * SECOND);
    await rawRequest(running.url, 'GET', '/page', sessionCookie(id));
    const second = await signIn('alice');
    // A rotated id used again is a replay at once.
    const rotated = await running.gateway.lapse.authority.rotate(second);
    if (!rotated.ok) throw new Error('rotation failed');
    const thirdId = rotated.id;
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(second))).status).toBe(401);
    await admin('DELETE', `/api/sessions/${hashSessionId(thirdId)}`);
    running.gateway.observability?.recordReload({ result: 'ok' }, 'sighup');

    const events = audit.events();
    const kinds = new Set(events.map((event) => event.event));
    for (const kind of [
      'session.begin',
      'session.extend',
      'session.expire',
      'session.reject',
      'session.revoke',
      'session.rotate',
      'anomaly.replayed_id',
      'policy.reload',
    ]) {
      expect(kinds, `no ${kind} in ${[...kinds].join(', ')}`).toContain(kind);
    }
    for (const event of events) {
      expect(Object.keys(event)).toEqual(
        expect.arrayContaining(['time', 'event', 'session', 'subject', 'rule', 'reason']),
      );
    }
    const expire = events.find((event) => event.event === 'session.expire');
    expect(expire).toMatchObject({ subject: 'alice', rule: 'defaults', reason: 'idle' });
    expect(expire?.session).toBe(
      running.gateway.observability?.audit.sessionRef(hashSessionId(id)),
    );
    const revoke = events.find((event) => event.event === 'session.revoke');
    expect(revoke).toMatchObject({ reason: 'admin', subject: 'alice' });

    // Nothing secret in the audit trail, nor in the gateway's own logs at debug level.
    expect(gatewayLogs.lines.length).toBeGreaterThan(0);
    const everything = [...audit.lines, ...gatewayLogs.lines].join('\n');
    for (const secret of [id, second, thirdId, TOKEN, SALT]) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(hashSessionId(secret));
    }
  });
});

describe('the admin API', () => {
  beforeEach(() => start());

  it('answers 401 to no token, a wrong token and a token of the wrong length, on every route', async () => {
    const wrong = `${TOKEN.slice(0, -1)}x`;
    for (const path of ['/metrics', '/api/sessions', '/api/stats', '/api/events', '/api/policy']) {
      for (const headers of [
        {},
        { authorization: `Bearer ${wrong}` },
        { authorization: `Bearer ${TOKEN}extra` },
        { authorization: 'Bearer short' },
        { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
        { authorization: TOKEN },
      ]) {
        const response = await admin('GET', path, headers);
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(response.headers['www-authenticate']).toBe('Bearer realm="lapse-admin"');
        expect(response.body).not.toContain('session');
      }
    }
    expect((await admin('DELETE', '/api/subjects/alice/sessions', {})).status).toBe(401);
    expect(
      (await admin('GET', '/api/sessions', { authorization: `bearer  ${TOKEN}` })).status,
    ).toBe(200);
  });

  it('tells whether a token is needed and whether the one presented is right, never with a 401', async () => {
    expect((await adminJsonWith('/api/auth', {})).body).toEqual({
      tokenRequired: true,
      authorized: false,
    });
    expect((await adminJsonWith('/api/auth', BEARER)).body).toEqual({
      tokenRequired: true,
      authorized: true,
    });
    const wrong = await adminJsonWith('/api/auth', {
      authorization: 'Bearer wrong-token-wrong-token',
    });
    expect(wrong.body).toEqual({ tokenRequired: true, authorized: false });
  });

  it('serves the dashboard files without a token (they hold no data), with a strict CSP', async () => {
    const page = await admin('GET', '/', {});
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).not.toMatch(/https?:\/\//);
    for (const path of ['/dashboard.js', '/dashboard.css']) {
      const asset = await admin('GET', path, {});
      expect(asset.status).toBe(200);
      expect(asset.body).not.toMatch(/(?:src|href)=["']?https?:/);
    }
  });

  it('lists sessions with their deadlines and state, filters and pages them', async () => {
    await signIn('alice', 'user');
    await signIn('alice', 'user');
    await signIn('root', 'admin');
    const all = await adminJson('GET', '/api/sessions');
    expect(all.now).toBe(START);
    const sessions = all.sessions as Record<string, unknown>[];
    expect(sessions).toHaveLength(3);
    const root = sessions.find((session) => session.subject === 'root');
    expect(root).toMatchObject({
      roles: ['admin'],
      rule: 'admins',
      state: 'active',
      idleExpiresAt: START + 30 * SECOND,
      absoluteExpiresAt: START + 300 * SECOND,
      // warn 20 s is clamped to half the 30 s idle timeout.
      warnAt: START + 15 * SECOND,
      endedAt: null,
    });
    expect(String(root?.id)).toHaveLength(43);
    expect((await adminJson('GET', '/api/sessions?subject=alice')).sessions).toHaveLength(2);
    expect((await adminJson('GET', '/api/sessions?role=admin')).sessions).toHaveLength(1);
    expect((await adminJson('GET', '/api/sessions?rule=defaults')).sessions).toHaveLength(2);
    clock.advance(16 * SECOND);
    const warning = await adminJson('GET', '/api/sessions?state=warning');
    expect((warning.sessions as Record<string, unknown>[]).map((s) => s.subject)).toEqual(['root']);
    expect((await adminJson('GET', '/api/sessions?state=active')).sessions).toHaveLength(2);

    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page = await adminJson(
        'GET',
        `/api/sessions?limit=1${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      for (const session of page.sessions as { id: string }[]) seen.add(session.id);
      cursor = page.next as string | null;
    } while (cursor !== null);
    expect(seen.size).toBe(3);

    for (const bad of ['limit=0', 'limit=501', 'limit=x', 'state=bogus', 'cursor=nonsense']) {
      const response = await admin('GET', `/api/sessions?${bad}`);
      expect(response.status, bad).toBe(400);
    }
  });

  it('refuses malformed, oversized and hostile input with a clear 4xx and changes nothing', async () => {
    const id = await signIn('alice');
    const long = 'x'.repeat(513);
    for (const [method, path, status, parameter] of [
      ['GET', `/api/sessions?subject=${long}`, 400, 'subject'],
      ['GET', '/api/sessions?subject=a&subject=b', 400, 'subject'],
      ['GET', '/api/sessions?limit=%2B5', 400, 'limit'],
      ['GET', '/api/sessions?limit=1e2', 400, 'limit'],
      ['GET', `/api/explain?roles=${long}`, 400, 'roles'],
      ['GET', '/api/events?after=99999999999999999999', 400, 'after'],
      ['GET', '/api/events?limit=-3', 400, 'limit'],
      ['DELETE', `/api/subjects/${long}/sessions`, 400, 'subject'],
      ['DELETE', `/api/sessions?subject=${long}`, 400, 'subject'],
      ['DELETE', '/api/sessions/%E0%A4%A', 404, undefined],
      ['DELETE', `/api/sessions/${hashSessionId(id)}%0d%0aX-Evil:%201`, 404, undefined],
      ['DELETE', '/api/subjects/%ZZ/sessions', 404, undefined],
      ['POST', '/api/sessions', 405, undefined],
      ['PUT', '/api/explain', 405, undefined],
      ['GET', '/api/nothing-here', 404, undefined],
    ] as const) {
      const response = await admin(method, path);
      expect(response.status, `${method} ${path.slice(0, 60)}`).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.headers['x-evil']).toBeUndefined();
      if (parameter !== undefined) {
        expect(response.json()).toMatchObject({ error: 'bad_request', parameter });
      }
    }
    // Nothing was revoked on the way.
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(200);
  });

  it('revokes one session: its next request gets 401, and a second revoke says it had ended', async () => {
    const id = await signIn('alice');
    const keep = await signIn('alice');
    const idHash = hashSessionId(id);
    const revoked = await adminJson('DELETE', `/api/sessions/${idHash}`);
    expect(revoked).toMatchObject({
      outcome: 'revoked',
      session: { id: idHash, state: 'ended', endReason: 'revoked', revokeReason: 'admin' },
    });
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(401);
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(keep))).status).toBe(200);
    expect(await adminJson('DELETE', `/api/sessions/${idHash}`)).toMatchObject({
      outcome: 'already-ended',
    });
    expect(
      (await admin('DELETE', `/api/sessions/${hashSessionId(await signIn('x'))}x`)).status,
    ).toBe(404);
    expect((await admin('DELETE', '/api/sessions/not-a-session')).status).toBe(404);
    expect((await admin('GET', `/api/sessions/${idHash}`)).status).toBe(405);
  });

  it('signs a subject out everywhere', async () => {
    const first = await signIn('alice');
    const second = await signIn('alice');
    const bob = await signIn('bob');
    expect(await adminJson('DELETE', '/api/subjects/alice/sessions')).toEqual({ revoked: 2 });
    for (const id of [first, second]) {
      expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(401);
    }
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(bob))).status).toBe(200);
    expect(
      await adminJson('DELETE', `/api/subjects/${encodeURIComponent('no one')}/sessions`),
    ).toEqual({
      revoked: 0,
    });
  });

  it('explains the policy for given attributes and shows the policy in force', async () => {
    const explained = await adminJson(
      'GET',
      '/api/explain?roles=admin,dev&userType=human&environment=test',
    );
    expect(explained).toMatchObject({
      input: { roles: ['admin', 'dev'], userType: 'human', environment: 'test', app: null },
      idle: { ms: 30_000, from: 'admins' },
      absolute: { ms: 300_000, from: 'defaults' },
      warn: { ms: 15_000, from: 'defaults', clamped: true },
      matched: ['admins'],
      message: 'Admins: 30 s.',
    });
    const policy = await adminJson('GET', '/api/policy');
    expect(policy.loadedAt).toBe(START);
    expect(JSON.stringify(policy.policy)).toContain('admins');
  });

  it('gives recent events as JSON pages and as a live server-sent stream', async () => {
    const first = await adminJson('GET', '/api/events');
    const lastSeq = first.lastSeq as number;
    await signIn('alice');
    const page = await adminJson('GET', `/api/events?after=${lastSeq}`);
    expect((page.events as { event: string }[]).map((event) => event.event)).toEqual([
      'session.begin',
    ]);
    const stream = await openStream(`/api/events?after=${lastSeq}`);
    try {
      expect(await stream.next()).toMatchObject({ event: 'session.begin', subject: 'alice' });
      await signIn('bob');
      expect(await stream.next()).toMatchObject({ event: 'session.begin', subject: 'bob' });
    } finally {
      stream.close();
    }
    expect((await admin('GET', '/api/events?after=-1')).status).toBe(400);
  });

  it('gives the dashboard its counts: live sessions, ends by reason per minute, anomalies', async () => {
    const id = await signIn('alice');
    await admin('DELETE', `/api/sessions/${hashSessionId(id)}`);
    await signIn('bob');
    const stats = await adminJson('GET', '/api/stats');
    expect(stats).toMatchObject({
      now: START,
      sessions: { active: 1, warning: 0 },
      anomalies: { past_deadline: 0, replayed_id: 0 },
      wsConnections: 0,
    });
    const ends = stats.ends as { bucketMs: number; buckets: Record<string, number>[] };
    expect(ends.bucketMs).toBe(60_000);
    expect(ends.buckets).toHaveLength(60);
    expect(ends.buckets.at(-1)).toMatchObject({ idle: 0, absolute: 0, revoked: 1 });
  });

  it('answers 503 when the store cannot be reached', async () => {
    const store = running.gateway.lapse.authority.store;
    const list = store.list.bind(store);
    store.list = () => Promise.reject(new StoreUnavailableError('down'));
    try {
      expect((await admin('GET', '/api/sessions')).status).toBe(503);
    } finally {
      store.list = list;
    }
  });
});

describe('an admin listener without a token', () => {
  it('refuses to start beyond loopback', async () => {
    const lapse = createLapse({
      policy: loadPolicy('version: 1\npolicy: { defaults: { idle: 1m, absolute: 1h } }', 'p.yaml'),
    });
    const observability = observeLapse(lapse, {
      audit: { destination: new LineSink() },
      clockSkewIntervalMs: 0,
    });
    for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
      expect(() => createAdminServer({ observability, listen: { host, port: 0 } })).toThrow(
        expect.objectContaining({ code: 'LAPSE_CONFIG_ADMIN_UNPROTECTED' }),
      );
    }
    await observability.close();
  });

  it('on loopback, answers only a loopback Host and refuses cross-site changes', async () => {
    await start('admin: { listen: 127.0.0.1:0 }');
    const id = await signIn('alice');
    const port = new URL(adminUrl).port;
    expect((await admin('GET', '/api/sessions', {})).status).toBe(200);
    expect((await admin('GET', '/api/sessions', { host: `localhost:${port}` })).status).toBe(200);
    expect((await admin('GET', '/api/sessions', { host: `evil.example:${port}` })).status).toBe(
      403,
    );
    const revoke = `/api/sessions/${hashSessionId(id)}`;
    expect((await admin('DELETE', revoke, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await rawRequest(running.url, 'GET', '/page', sessionCookie(id))).status).toBe(200);
    expect((await admin('DELETE', revoke, { origin: `http://127.0.0.1:${port}` })).status).toBe(
      200,
    );
  });
});

/** Read an SSE stream of the admin listener one `audit` event at a time. */
function openStream(path: string): Promise<{ next(): Promise<unknown>; close(): void }> {
  const url = new URL(path, adminUrl);
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { ...BEARER, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream answered ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      const ready: unknown[] = [];
      const waiting: ((event: unknown) => void)[] = [];
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (;;) {
          const end = buffer.indexOf('\n\n');
          if (end === -1) break;
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split('\n')
            .find((line) => line.startsWith('data: '))
            ?.slice('data: '.length);
          if (data === undefined) continue;
          const event = JSON.parse(data) as unknown;
          const waiter = waiting.shift();
          if (waiter === undefined) ready.push(event);
          else waiter(event);
        }
      });
      resolve({
        next: () =>
          ready.length > 0
            ? Promise.resolve(ready.shift())
            : new Promise((resolveEvent) => waiting.push(resolveEvent)),
        close: () => req.destroy(),
      });
    });
    req.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    req.end();
  });
}
