/**
 * The `npm start` demo, end to end: the demo app behind a gateway loaded from
 * `demo/lapse.yaml`, over real HTTP and a real WebSocket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type DemoBehindGateway, startDemoBehindGateway } from './helpers/demo-behind-gateway.js';
import { cookieValue, parseSessionHeader, rawRequest } from './helpers/http-client.js';

let demo: DemoBehindGateway;

beforeAll(async () => {
  demo = await startDemoBehindGateway();
});

afterAll(async () => {
  await demo.close();
});

const NAVIGATE = {
  accept: 'text/html',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-site': 'same-origin',
};

async function signIn(name: string, role: string): Promise<string> {
  const res = await rawRequest(
    demo.url,
    'POST',
    '/login',
    { ...NAVIGATE, 'content-type': 'application/x-www-form-urlencoded' },
    `name=${encodeURIComponent(name)}&role=${role}&return_to=%2Fform`,
  );
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/form');
  const id = cookieValue(res.cookies, 'lapse_sid');
  if (id === undefined) throw new Error('no session cookie');
  return id;
}

describe('the demo behind the gateway', () => {
  it('sends a visitor without a session to the sign-in page', async () => {
    const res = await rawRequest(demo.url, 'GET', '/feed', NAVIGATE);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login?reason=missing&return_to=%2Ffeed');
    const login = await rawRequest(demo.url, 'GET', '/login?reason=idle', NAVIGATE);
    expect(login.status).toBe(200);
    expect(login.body).toContain('<form');
  });

  it('signs an admin in with the admins rule (60 s idle, 20 s warning) and injects the client', async () => {
    const id = await signIn('Ada', 'admin');
    const home = await rawRequest(demo.url, 'GET', '/', { ...NAVIGATE, cookie: `lapse_sid=${id}` });
    expect(home.status).toBe(200);
    expect(home.body).toContain('Ada');
    expect(parseSessionHeader(home.headers['lapse-session'])).toMatchObject({ idle: 60, warn: 20 });
    const nonce = /script-src 'nonce-([^']+)'/.exec(
      String(home.headers['content-security-policy']),
    )?.[1];
    expect(nonce).toBeDefined();
    expect(home.body).toContain(
      `<script src="/_lapse/client.js" data-login-url="/login" nonce="${nonce}" defer=""></script></head>`,
    );
    const status = await rawRequest(demo.url, 'GET', '/_lapse/status', {
      cookie: `lapse_sid=${id}`,
    });
    expect(status.json()).toMatchObject({
      state: 'active',
      policy: { idle: 60_000, warn: 20_000 },
    });
  });

  it('streams the live feed over a WebSocket that carries the session', async () => {
    const id = await signIn('Grace', 'user');
    const socket = new WebSocket(`${demo.url.replace('http', 'ws')}/ws/feed`, {
      headers: { cookie: `lapse_sid=${id}` },
    });
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(data.toString()));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send('hello');
    await new Promise((resolve) => setTimeout(resolve, 600));
    socket.close();
    expect(messages.some((message) => message.includes('"echo":"hello"'))).toBe(true);
    expect(messages.length).toBeGreaterThan(1);
  });

  it('signs out, even after the session is gone', async () => {
    const id = await signIn('Linus', 'user');
    const out = await rawRequest(demo.url, 'POST', '/logout', {
      ...NAVIGATE,
      cookie: `lapse_sid=${id}`,
    });
    expect(out.status).toBe(303);
    expect(out.cookies.find((cookie) => cookie.startsWith('lapse_sid='))).toMatch(/Max-Age=0/);
    const again = await rawRequest(demo.url, 'POST', '/logout', {
      ...NAVIGATE,
      cookie: `lapse_sid=${id}`,
    });
    expect(again.status).toBe(303);
    const after = await rawRequest(demo.url, 'GET', '/form', {
      ...NAVIGATE,
      cookie: `lapse_sid=${id}`,
    });
    expect(after.headers.location).toBe('/login?reason=revoked&return_to=%2Fform');
  });
});
