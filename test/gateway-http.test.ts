/**
 * The gateway over real sockets: a real upstream, the real config loader, the
 * real proxy. The store's clock is a ManualClock, so expiry is exact and
 * nothing sleeps.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatIdentityHeader, parseIdentityHeader } from '../src/gateway/identity-header.js';
import { ManualClock } from '../src/session/clock.js';
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
import { cookieValue, parseSessionHeader, rawRequest } from './helpers/http-client.js';

const SECOND = 1_000;
const START = Date.UTC(2026, 0, 1, 9);
const SAME_ORIGIN = { 'x-lapse': '1', 'sec-fetch-site': 'same-origin' };
const HTML = { accept: 'text/html,application/xhtml+xml' };

/** The upstream app: `POST /login?as=<subject>&role=<role>` answers with Lapse-Begin, `POST /logout` with Lapse-End. */
function appHandler(
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
): void {
  if (answerSignInOut(req, res, { 'Set-Cookie': 'app_pref=dark; Path=/' })) return;
  const url = new URL(req.url ?? '/', 'http://app');
  if (url.pathname === '/bad-begin') {
    res.setHeader('Lapse-Begin', 'subject=');
    res.end('oops');
    return;
  }
  if (url.pathname === '/slow') {
    setTimeout(() => res.end('late'), 3_000).unref();
    return;
  }
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Lapse-Session', 'state=forged');
  res.end(
    JSON.stringify({
      path: req.url,
      identity: req.headers['lapse-identity'] ?? null,
      cookie: req.headers.cookie ?? null,
    }),
  );
}

let upstream: Upstream;
let gateway: RunningGateway;
let clock: ManualClock;

async function signIn(role = 'user', subject = 'u1', extra: Record<string, string> = {}) {
  const res = await rawRequest(gateway.url, 'POST', `/login?as=${subject}&role=${role}`, extra);
  const id = cookieValue(res.cookies, 'lapse_sid');
  if (id === undefined) throw new Error(`no session cookie: ${res.status} ${res.body}`);
  return { res, id };
}

beforeEach(async () => {
  upstream = await startUpstream(appHandler);
  clock = new ManualClock(START);
  gateway = await startGateway(
    gatewayYaml(upstream.url, {
      gateway: '  public: ["/assets/**"]\n  limits: { upstreamTimeout: 1s }',
    }),
    { store: new MemoryStore({ clock, sweepIntervalMs: 0 }) },
  );
});

afterEach(async () => {
  await gateway.close();
  await upstream.close();
});

describe('identity from the upstream (Lapse-Begin / Lapse-End)', () => {
  it('starts a session from Lapse-Begin, sets the cookie and strips the header', async () => {
    const { res, id } = await signIn('admin');
    expect(res.status).toBe(200);
    expect(res.body).toBe('signed in');
    expect(res.headers['lapse-begin']).toBeUndefined();
    expect(res.cookies.some((cookie) => cookie.startsWith('app_pref=dark'))).toBe(true);
    expect(res.cookies.find((cookie) => cookie.startsWith('lapse_sid='))).toMatch(/HttpOnly/);
    expect(parseSessionHeader(res.headers['lapse-session'])).toMatchObject({
      state: 'active',
      idle: 30,
      absolute: 300,
    });
    const page = await rawRequest(gateway.url, 'GET', '/dashboard', sessionCookie(id));
    expect(page.status).toBe(200);
    const seen = page.json() as { identity: string; cookie: string | null };
    expect(parseIdentityHeader(seen.identity)).toEqual({
      subject: 'u1',
      roles: ['admin'],
      userType: 'human',
    });
    // The session id is a credential the app never needs: it is not forwarded.
    expect(seen.cookie).toBeNull();
    // The upstream's own Lapse-Session is replaced by the gateway's.
    expect(parseSessionHeader(page.headers['lapse-session']).state).toBe('active');
  });

  it('drops Lapse-Begin, Lapse-End and Lapse-Identity sent by a client', async () => {
    const forged = formatIdentityHeader({ subject: 'root', roles: ['admin'] });
    const res = await rawRequest(gateway.url, 'GET', '/assets/app.css', {
      'lapse-begin': forged,
      'lapse-identity': forged,
      'lapse-end': '?1',
    });
    expect(res.status).toBe(200);
    expect(res.cookies.find((cookie) => cookie.startsWith('lapse_sid='))).toBeUndefined();
    const seen = upstream.seen.at(-1);
    expect(seen?.headers['lapse-begin']).toBeUndefined();
    expect(seen?.headers['lapse-end']).toBeUndefined();
    expect(seen?.headers['lapse-identity']).toBeUndefined();
  });

  it('keeps other cookies and removes only the session cookie on the way up', async () => {
    const { id } = await signIn();
    const page = await rawRequest(gateway.url, 'GET', '/x', {
      cookie: `a=1; lapse_sid=${id}; lapse_sidx=2; b=3`,
    });
    expect((page.json() as { cookie: string }).cookie).toBe('a=1; lapse_sidx=2; b=3');
  });

  it('replaces a session on a second Lapse-Begin: the old id is retired (no fixation)', async () => {
    const first = await signIn();
    const second = await signIn('admin', 'u1', sessionCookie(first.id));
    expect(second.id).not.toBe(first.id);
    const old = await rawRequest(gateway.url, 'GET', '/x', sessionCookie(first.id));
    expect(old.status).toBe(401);
    expect(old.json()).toEqual({ error: 'session_expired', reason: 'revoked' });
    const fresh = await rawRequest(gateway.url, 'GET', '/x', sessionCookie(second.id));
    expect(fresh.status).toBe(200);
  });

  it('ends the session on Lapse-End: the cookie is cleared and the id rejected', async () => {
    const { id } = await signIn();
    const out = await rawRequest(gateway.url, 'POST', '/logout', sessionCookie(id));
    expect(out.status).toBe(200);
    expect(out.headers['lapse-end']).toBeUndefined();
    expect(out.cookies.find((cookie) => cookie.startsWith('lapse_sid='))).toMatch(/Max-Age=0/);
    const after = await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id));
    expect(after.status).toBe(401);
    expect(after.json()).toEqual({ error: 'session_expired', reason: 'revoked' });
  });

  it('answers 502 when the upstream sends an unreadable Lapse-Begin, and starts nothing', async () => {
    const { id } = await signIn();
    const bad = await rawRequest(gateway.url, 'GET', '/bad-begin', sessionCookie(id));
    expect(bad.status).toBe(502);
    expect(bad.json()).toEqual({ error: 'bad_gateway', reason: 'upstream_invalid_identity' });
    expect(bad.cookies.find((cookie) => cookie.startsWith('lapse_sid='))).toBeUndefined();
  });
});

describe('enforcement on every request', () => {
  it('rejects a request without a session: 401 for an API call, 303 to the login page for a navigation', async () => {
    const api = await rawRequest(gateway.url, 'GET', '/api/data');
    expect(api.status).toBe(401);
    expect(api.headers['www-authenticate']).toBe('Lapse error="session_expired", reason="missing"');
    const page = await rawRequest(gateway.url, 'GET', '/reports?q=1', HTML);
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/login?reason=missing&return_to=%2Freports%3Fq%3D1');
    expect(upstream.seen.some((seen) => seen.url.startsWith('/api/data'))).toBe(false);
  });

  it('forwards the login page and public paths without a session', async () => {
    expect((await rawRequest(gateway.url, 'GET', '/login')).status).toBe(200);
    expect((await rawRequest(gateway.url, 'GET', '/assets/logo.svg')).status).toBe(200);
  });

  it('expires a session at its idle deadline, exactly', async () => {
    const { id } = await signIn('admin');
    clock.advance(30 * SECOND - 1);
    expect((await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id))).status).toBe(200);
    clock.advance(30 * SECOND);
    const late = await rawRequest(gateway.url, 'GET', '/x', { ...sessionCookie(id), ...HTML });
    expect(late.status).toBe(303);
    expect(late.headers.location).toBe('/login?reason=idle&return_to=%2Fx');
    expect(late.cookies.find((cookie) => cookie.startsWith('lapse_sid='))).toMatch(/Max-Age=0/);
  });

  it('expires a session at its absolute deadline however active it is', async () => {
    const { id } = await signIn();
    for (let elapsed = 0; elapsed < 300 * SECOND - 50 * SECOND; elapsed += 50 * SECOND) {
      clock.advance(50 * SECOND);
      expect((await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id))).status).toBe(200);
    }
    clock.advance(50 * SECOND);
    const res = await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id));
    expect(res.json()).toEqual({ error: 'session_expired', reason: 'absolute' });
  });

  it('does not let passive polling keep a session alive', async () => {
    const { id } = await signIn();
    for (let i = 0; i < 5; i += 1) {
      clock.advance(10 * SECOND);
      const poll = await rawRequest(gateway.url, 'GET', '/api/poll', sessionCookie(id));
      expect(poll.status).toBe(200);
      // The countdown keeps running: a poll reads the session, never touches it.
      expect(parseSessionHeader(poll.headers['lapse-session']).idle).toBe(60 - (i + 1) * 10);
    }
    clock.advance(10 * SECOND);
    const res = await rawRequest(gateway.url, 'GET', '/api/poll', sessionCookie(id));
    expect(res.json()).toEqual({ error: 'session_expired', reason: 'idle' });
  });

  it('answers /_lapse/ itself and never forwards it', async () => {
    const { id } = await signIn();
    clock.advance(10 * SECOND);
    const status = await rawRequest(gateway.url, 'GET', '/_lapse/status', sessionCookie(id));
    expect(status.status).toBe(200);
    expect(status.json()).toMatchObject({ state: 'active', idleExpiresAt: START + 60 * SECOND });
    const extend = await rawRequest(gateway.url, 'POST', '/_lapse/extend', {
      ...sessionCookie(id),
      ...SAME_ORIGIN,
    });
    expect(extend.json()).toMatchObject({ idleExpiresAt: START + 70 * SECOND });
    const script = await rawRequest(gateway.url, 'GET', '/_lapse/client.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    expect((await rawRequest(gateway.url, 'GET', '/_lapse/anything')).status).toBe(404);
    const logout = await rawRequest(gateway.url, 'POST', '/_lapse/logout', {
      ...sessionCookie(id),
      ...SAME_ORIGIN,
    });
    expect(logout.status).toBe(200);
    expect(upstream.seen.some((seen) => seen.url.startsWith('/_lapse'))).toBe(false);
    expect((await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id))).status).toBe(401);
  });

  it('sets X-Forwarded-* and keeps the Host', async () => {
    const { id } = await signIn();
    await rawRequest(gateway.url, 'GET', '/x', {
      ...sessionCookie(id),
      host: 'app.example:8443',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
    });
    const seen = upstream.seen.at(-1);
    expect(seen?.headers.host).toBe('app.example:8443');
    expect(seen?.headers['x-forwarded-host']).toBe('app.example:8443');
    expect(seen?.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    // The gateway listens on plain HTTP: a client cannot claim otherwise.
    expect(seen?.headers['x-forwarded-proto']).toBe('http');
  });
});

describe('upstream failures', () => {
  it('answers 504 when the upstream does not answer within upstreamTimeout', async () => {
    const { id } = await signIn();
    const res = await rawRequest(gateway.url, 'GET', '/slow', sessionCookie(id));
    expect(res.status).toBe(504);
    expect(res.json()).toEqual({ error: 'gateway_timeout', reason: 'upstream_timeout' });
  });

  it('answers 502 when the upstream is down, and serves again when it is back', async () => {
    const { id } = await signIn();
    const port = upstream.port;
    await upstream.close();
    const down = await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id));
    expect(down.status).toBe(502);
    expect(down.json()).toEqual({ error: 'bad_gateway', reason: 'upstream_unreachable' });
    upstream.server.listen(port, '127.0.0.1');
    await new Promise((resolve) => upstream.server.once('listening', resolve));
    expect((await rawRequest(gateway.url, 'GET', '/x', sessionCookie(id))).status).toBe(200);
  });
});
