/**
 * ONE HTTP contract (SPEC sections 3 and 4), run over real sockets against
 * every adapter: the example apps of lapse/express (Express 5 and 4),
 * lapse/fastify, lapse/node and lapse/hono. Time is a ManualClock inside the
 * store, so expiry is exact and nothing sleeps.
 */
import express4 from 'express4';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLapse, type Lapse } from '../src/http/lapse.js';
import type { Policy } from '../src/policy/types.js';
import { ManualClock } from '../src/session/clock.js';
import { MemoryStore } from '../src/store/memory-store.js';
import {
  cookieValue,
  parseSessionHeader,
  type RawResponse,
  rawRequest,
} from './helpers/http-client.js';

interface Started {
  url: string;
  close(): Promise<void>;
}
type Start = (lapse: Lapse) => Promise<Started>;

async function exampleStart(name: string): Promise<Start> {
  const folder = name === 'express4' ? 'express' : name;
  const module = (await import(`../examples/${folder}/app.mjs`)) as {
    start(lapse: Lapse, port?: number, framework?: unknown): Promise<Started>;
  };
  return name === 'express4'
    ? (lapse) => module.start(lapse, 0, express4)
    : (lapse) => module.start(lapse, 0);
}

const ADAPTERS: Array<[string, string]> = [
  ['lapse/express (Express 5)', 'express'],
  ['lapse/express (Express 4)', 'express4'],
  ['lapse/fastify', 'fastify'],
  ['lapse/node', 'node'],
  ['lapse/hono', 'hono'],
];

const SECOND = 1_000;
const START = Date.UTC(2026, 0, 1, 9);

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 60 * SECOND, absoluteMs: 300 * SECOND, warnMs: 20 * SECOND },
  ceilings: {},
  rules: [
    { name: 'admins', match: { roles: ['admin'] }, idleMs: 30 * SECOND, message: 'Admins: 30 s.' },
  ],
  passive: [{ methods: ['GET'], paths: ['/api/poll'] }],
};

const SAME_ORIGIN = { 'x-lapse': '1', 'sec-fetch-site': 'same-origin' };
const HTML = { accept: 'text/html,application/xhtml+xml' };

for (const [label, example] of ADAPTERS) {
  describe(`HTTP contract: ${label}`, () => {
    let clock: ManualClock;
    let store: MemoryStore;
    let lapse: Lapse;
    let server: Started;

    beforeEach(async () => {
      clock = new ManualClock(START);
      store = new MemoryStore({ clock, sweepIntervalMs: 0 });
      lapse = createLapse({
        policy: POLICY,
        store,
        loginUrl: '/login',
        cookie: { development: true },
      });
      server = await (await exampleStart(example))(lapse);
    });

    afterEach(async () => {
      await server.close();
      await store.close().catch(() => undefined);
    });

    const send = (
      method: string,
      path: string,
      headers: Record<string, string> = {},
      body?: string,
    ) => rawRequest(server.url, method, path, headers, body);

    async function login(subject = 'u1', roles: string[] = []): Promise<string> {
      const response = await send(
        'POST',
        '/login',
        { 'content-type': 'application/json' },
        JSON.stringify({ subject, roles }),
      );
      expect(response.status).toBe(200);
      const id = cookieValue(response.cookies, 'lapse_sid');
      if (id === undefined) throw new Error('login set no lapse_sid cookie');
      return id;
    }

    const withCookie = (id: string, headers: Record<string, string> = {}) => ({
      ...headers,
      cookie: `lapse_sid=${id}`,
    });

    function expectRejected(response: RawResponse, reason: string): void {
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(
        `Lapse error="session_expired", reason="${reason}"`,
      );
      expect(response.json()).toEqual({ error: 'session_expired', reason });
    }

    it('begins a session with a fresh id in an HttpOnly, SameSite=Lax cookie', async () => {
      const response = await send(
        'POST',
        '/login',
        { 'content-type': 'application/json' },
        '{"subject":"u1"}',
      );
      expect(response.status).toBe(200);
      const [cookie] = response.cookies;
      expect(cookie).toMatch(/^lapse_sid=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(parseSessionHeader(response.headers['lapse-session'])).toEqual({
        state: 'active',
        idle: 60,
        absolute: 300,
        warn: 20,
      });
    });

    it('never reuses an id the client sent: an unknown id is invalid, and login issues a new one', async () => {
      const planted = 'A'.repeat(43);
      expectRejected(await send('GET', '/api/me', withCookie(planted)), 'invalid');
      const response = await send(
        'POST',
        '/login',
        withCookie(planted, { 'content-type': 'application/json' }),
        '{"subject":"u1"}',
      );
      const issued = cookieValue(response.cookies, 'lapse_sid');
      expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(issued).not.toBe(planted);
      expectRejected(await send('GET', '/api/me', withCookie(planted)), 'invalid');
    });

    it('replaces, never reuses, a live session on a new sign-in', async () => {
      const first = await login();
      const response = await send(
        'POST',
        '/login',
        withCookie(first, { 'content-type': 'application/json' }),
        '{"subject":"u2"}',
      );
      const second = cookieValue(response.cookies, 'lapse_sid');
      expect(second).not.toBe(first);
      expectRejected(await send('GET', '/api/me', withCookie(first)), 'revoked');
      expect((await send('GET', '/api/me', withCookie(second as string))).json()).toMatchObject({
        subject: 'u2',
      });
    });

    it('counts genuine requests as activity and passive polling not', async () => {
      const id = await login();
      clock.advance(40 * SECOND);
      const poll = await send('GET', '/api/poll', withCookie(id));
      expect(poll.status).toBe(200);
      expect(parseSessionHeader(poll.headers['lapse-session'])).toMatchObject({
        state: 'warning',
        idle: 20,
      });
      const me = await send('GET', '/api/me', withCookie(id));
      expect(me.json()).toEqual({ subject: 'u1', roles: [], userType: 'human' });
      expect(parseSessionHeader(me.headers['lapse-session'])).toMatchObject({
        state: 'active',
        idle: 60,
        absolute: 260,
      });
      // Polling alone lets the session die on time.
      clock.advance(59 * SECOND);
      expect((await send('GET', '/api/poll', withCookie(id))).status).toBe(200);
      clock.advance(1 * SECOND);
      expectRejected(await send('GET', '/api/poll', withCookie(id)), 'idle');
    });

    it('reports status passively at /_lapse/status', async () => {
      const id = await login('admin-1', ['admin']);
      clock.advance(5 * SECOND);
      const response = await send('GET', '/_lapse/status', withCookie(id));
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({
        state: 'active',
        now: START + 5 * SECOND,
        idleExpiresAt: START + 30 * SECOND,
        absoluteExpiresAt: START + 300 * SECOND,
        // warn 20 s is clamped to half the admins' 30 s idle.
        warnAt: START + 15 * SECOND,
        policy: { idle: 30 * SECOND, absolute: 300 * SECOND, warn: 15 * SECOND },
        message: 'Admins: 30 s.',
      });
      clock.advance(24 * SECOND);
      expect((await send('GET', '/_lapse/status', withCookie(id))).json()).toMatchObject({
        state: 'warning',
        idleExpiresAt: START + 30 * SECOND,
      });
      clock.advance(1 * SECOND);
      expectRejected(await send('GET', '/_lapse/status', withCookie(id)), 'idle');
    });

    it('extends on "stay signed in", never past the absolute deadline', async () => {
      const id = await login();
      for (let elapsed = 50; elapsed < 300; elapsed += 50) {
        clock.advance(50 * SECOND);
        const response = await send('POST', '/_lapse/extend', withCookie(id, SAME_ORIGIN));
        expect(response.status).toBe(200);
        const body = response.json() as { idleExpiresAt: number; absoluteExpiresAt: number };
        expect(body.idleExpiresAt).toBe(START + (elapsed + 60) * SECOND);
        expect(body.absoluteExpiresAt).toBe(START + 300 * SECOND);
      }
      clock.advance(50 * SECOND);
      expectRejected(await send('POST', '/_lapse/extend', withCookie(id, SAME_ORIGIN)), 'absolute');
    });

    it('ends a session at its absolute deadline under constant activity', async () => {
      const id = await login();
      for (let i = 0; i < 29; i += 1) {
        clock.advance(10 * SECOND);
        expect((await send('GET', '/api/me', withCookie(id))).status).toBe(200);
      }
      clock.advance(10 * SECOND);
      expectRejected(await send('GET', '/api/me', withCookie(id)), 'absolute');
    });

    it('rejects at exactly the idle deadline, with the reason kept for replays', async () => {
      const id = await login();
      clock.advance(60 * SECOND - 1);
      expect((await send('GET', '/api/me', withCookie(id))).status).toBe(200);
      clock.advance(60 * SECOND);
      expectRejected(await send('GET', '/api/me', withCookie(id)), 'idle');
      clock.advance(3_600 * SECOND);
      expectRejected(await send('GET', '/api/me', withCookie(id)), 'idle');
    });

    it('rejects a request without a session as missing, and clears a dead cookie', async () => {
      expectRejected(await send('GET', '/api/me'), 'missing');
      const id = await login();
      clock.advance(61 * SECOND);
      const response = await send('GET', '/api/me', withCookie(id));
      expect(
        response.cookies.some(
          (cookie) => cookie.startsWith('lapse_sid=;') && cookie.includes('Max-Age=0'),
        ),
      ).toBe(true);
    });

    it('signs out through /_lapse/logout and through the app', async () => {
      const id = await login();
      const response = await send('POST', '/_lapse/logout', withCookie(id, SAME_ORIGIN));
      expect(response.status).toBe(200);
      expect(response.cookies.some((cookie) => cookie.includes('Max-Age=0'))).toBe(true);
      expectRejected(await send('GET', '/api/me', withCookie(id)), 'revoked');
      const other = await login('u2');
      expect((await send('POST', '/logout', withCookie(other))).status).toBe(200);
      expectRejected(await send('GET', '/api/me', withCookie(other)), 'revoked');
    });

    it('rejects a session revoked elsewhere (sign out everywhere)', async () => {
      const a = await login('u1');
      const b = await login('u1');
      expect(await lapse.authority.revokeSubject('u1')).toBe(2);
      expectRejected(await send('GET', '/api/me', withCookie(a)), 'revoked');
      expectRejected(await send('GET', '/api/me', withCookie(b)), 'revoked');
    });

    it('rotates the id on a privilege change and rejects the retired one as revoked', async () => {
      const id = await login();
      const response = await send(
        'POST',
        '/api/rotate',
        withCookie(id, { 'content-type': 'application/json' }),
        '{"roles":["admin"]}',
      );
      expect(response.status).toBe(200);
      const rotated = cookieValue(response.cookies, 'lapse_sid');
      expect(rotated).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(rotated).not.toBe(id);
      expectRejected(await send('GET', '/api/me', withCookie(id)), 'revoked');
      const me = await send('GET', '/api/me', withCookie(rotated as string));
      expect(me.json()).toMatchObject({ roles: ['admin'] });
      expect(parseSessionHeader(me.headers['lapse-session'])).toMatchObject({ idle: 30 });
    });

    it('redirects a browser navigation to the login page with the reason and a same-origin return_to', async () => {
      const response = await send('GET', '/reports/q3?tab=2', HTML);
      expect(response.status).toBe(303);
      expect(response.headers.location).toBe(
        '/login?reason=missing&return_to=%2Freports%2Fq3%3Ftab%3D2',
      );
      const id = await login();
      clock.advance(60 * SECOND);
      expect((await send('GET', '/', withCookie(id, HTML))).headers.location).toBe(
        '/login?reason=idle&return_to=%2F',
      );
      // The same request from script gets the 401.
      expect((await send('GET', '/', { accept: 'application/json' })).status).toBe(401);
    });

    it.each(['//evil.example/phish', '/\\evil.example/phish', '//evil.example'])(
      'never turns %s into an open redirect',
      async (path) => {
        const response = await send('GET', path, HTML);
        if (response.status === 303) {
          expect(response.headers.location).toBe('/login?reason=missing');
        } else {
          // @hono/node-server refuses a backslash path with 400 before any middleware runs.
          expect(response.status).toBe(400);
          expect(response.headers.location).toBeUndefined();
        }
      },
    );

    it.each([
      ['no X-Lapse header', { 'sec-fetch-site': 'same-origin' }],
      ['X-Lapse but a cross-site fetch', { 'x-lapse': '1', 'sec-fetch-site': 'cross-site' }],
      ['X-Lapse but a foreign Origin', { 'x-lapse': '1', origin: 'https://evil.example' }],
      ['X-Lapse with Origin: null', { 'x-lapse': '1', origin: 'null' }],
    ])('refuses extend and logout with %s', async (_label, headers) => {
      const id = await login();
      clock.advance(30 * SECOND);
      for (const endpoint of ['/_lapse/extend', '/_lapse/logout']) {
        const response = await send('POST', endpoint, withCookie(id, headers));
        expect(response.status).toBe(403);
        expect(response.json()).toEqual({ error: 'forbidden', reason: 'same_origin_required' });
      }
      // Neither extended nor signed out.
      const status = (await send('GET', '/_lapse/status', withCookie(id))).json() as {
        idleExpiresAt: number;
      };
      expect(status.idleExpiresAt).toBe(START + 60 * SECOND);
    });

    it('accepts extend from the page itself (Origin matching Host)', async () => {
      const id = await login();
      const host = new URL(server.url).host;
      const response = await send(
        'POST',
        '/_lapse/extend',
        withCookie(id, { 'x-lapse': '1', origin: `http://${host}` }),
      );
      expect(response.status).toBe(200);
    });

    it('answers unknown /_lapse/ paths and wrong methods itself', async () => {
      expect((await send('GET', '/_lapse/nope')).status).toBe(404);
      const wrong = await send('GET', '/_lapse/extend');
      expect(wrong.status).toBe(405);
      expect(wrong.headers.allow).toBe('POST');
    });

    it.each([
      ['a 10 KB cookie', () => ({ cookie: `lapse_sid=${'a'.repeat(10_240)}` })],
      [
        'a duplicated session cookie',
        () => ({ cookie: `lapse_sid=${'A'.repeat(43)}; lapse_sid=${'B'.repeat(43)}` }),
      ],
      ['malformed base64', () => ({ cookie: 'lapse_sid=%%%not*base64!!' })],
      ['a quoted empty cookie', () => ({ cookie: 'lapse_sid=""' })],
    ])('rejects %s with a clear 401, never a 500', async (_label, headers) => {
      const response = await send('GET', '/api/me', headers());
      expect(response.status).toBe(401);
      expect(['invalid', 'missing']).toContain((response.json() as { reason: string }).reason);
    });

    it('rejects a duplicated cookie even when one copy is a live session', async () => {
      const id = await login();
      expectRejected(
        await send('GET', '/api/me', { cookie: `lapse_sid=${id}; lapse_sid=${'B'.repeat(43)}` }),
        'invalid',
      );
    });

    it('fails closed with 503 when the store is unreachable', async () => {
      const id = await login();
      await store.close();
      const response = await send('GET', '/api/me', withCookie(id));
      expect(response.status).toBe(503);
      expect(response.json()).toEqual({ error: 'session_store_unavailable' });
      expect((await send('GET', '/_lapse/status', withCookie(id))).status).toBe(503);
    });
  });
}
