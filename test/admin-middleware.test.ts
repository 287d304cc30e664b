/**
 * Monitoring for middleware users: an Express app guarded by `lapse/express`
 * mounts the metrics registry on its own route and runs the admin listener
 * beside it (`lapse/admin`), over real sockets.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lapseMiddleware } from '../src/adapters/express/index.js';
import { type AdminServer, createAdminServer } from '../src/admin/admin-server.js';
import { createLapse } from '../src/http/lapse.js';
import { type Observability, observeLapse } from '../src/observe/observability.js';
import { loadPolicy } from '../src/policy/load-policy.js';
import { hashSessionId } from '../src/session/session-id.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { cookieValue, rawRequest } from './helpers/http-client.js';

const TOKEN = 'a-middleware-admin-token-0123456789';
const POLICY = 'version: 1\npolicy: { defaults: { idle: 10m, absolute: 8h, warn: 1m } }';

let server: Server;
let appUrl: string;
let admin: AdminServer;
let adminUrl: string;
let observability: Observability;
const auditLines: string[] = [];

beforeEach(async () => {
  auditLines.length = 0;
  const lapse = createLapse({
    policy: loadPolicy(POLICY, 'lapse.yaml'),
    store: new MemoryStore(),
    loginUrl: '/login',
    cookie: { development: true },
  });
  observability = observeLapse(lapse, {
    audit: { destination: { write: (line: string) => auditLines.push(line) } },
    clockSkewIntervalMs: 0,
  });
  // The app's own metrics, merged with lapse's into one /metrics.
  const own = new Registry();
  const orders = new Counter({ name: 'shop_orders_total', help: 'Orders.', registers: [own] });
  const merged = Registry.merge([own, observability.metrics.registry]);
  const app = express();
  app.get('/metrics', async (_req, res) => {
    res.type(merged.contentType).send(await merged.metrics());
  });
  app.use(lapseMiddleware(lapse));
  app.post('/login', async (req, res) => {
    await req.lapse.begin({ subject: 'ann', roles: ['clerk'] });
    res.json({ ok: true });
  });
  app.post('/order', (_req, res) => {
    orders.inc();
    res.json({ ok: true });
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  admin = createAdminServer({
    observability,
    token: TOKEN,
    listen: { host: '127.0.0.1', port: 0 },
  });
  adminUrl = await admin.listen();
});

afterEach(async () => {
  await admin.close();
  await observability.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('lapse/admin beside the Express middleware', () => {
  it("serves lapse's metrics merged into the app's own /metrics", async () => {
    const login = await rawRequest(appUrl, 'POST', '/login');
    const id = cookieValue(login.cookies, 'lapse_sid') as string;
    for (let i = 0; i < 3; i += 1) {
      expect(
        (await rawRequest(appUrl, 'POST', '/order', { cookie: `lapse_sid=${id}` })).status,
      ).toBe(200);
    }
    expect((await rawRequest(appUrl, 'POST', '/order')).status).toBe(401);
    const metrics = (await rawRequest(appUrl, 'GET', '/metrics')).body;
    expect(metrics).toContain('shop_orders_total 3');
    expect(metrics).toContain('lapse_sessions_started_total 1');
    expect(metrics).toContain('lapse_requests_total{verdict="allowed"} 3');
    expect(metrics).toContain('lapse_sessions_active 1');
  });

  it('runs the admin listener beside the app: a revoke there ends the session in the app', async () => {
    const login = await rawRequest(appUrl, 'POST', '/login');
    const id = cookieValue(login.cookies, 'lapse_sid') as string;
    const bearer = { authorization: `Bearer ${TOKEN}` };
    const listed = (await rawRequest(adminUrl, 'GET', '/api/sessions', bearer)).json() as {
      sessions: { id: string; subject: string; roles: string[] }[];
    };
    expect(listed.sessions).toEqual([
      expect.objectContaining({ id: hashSessionId(id), subject: 'ann', roles: ['clerk'] }),
    ]);
    const revoke = await rawRequest(
      adminUrl,
      'DELETE',
      `/api/sessions/${hashSessionId(id)}`,
      bearer,
    );
    expect(revoke.status).toBe(200);
    expect((await rawRequest(appUrl, 'POST', '/order', { cookie: `lapse_sid=${id}` })).status).toBe(
      401,
    );
    const events = auditLines.map((line) => JSON.parse(line) as { event: string; reason: string });
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'session.revoke', reason: 'admin' }),
    );
    expect(auditLines.join('')).not.toContain(id);
  });
});
