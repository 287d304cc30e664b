// The demo app behind `npm start` (demo/app.mjs), over real HTTP and WebSocket, without the
// gateway: what the gateway would add (`Lapse-Identity`) is sent by hand.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type DemoApp, startDemoApp } from '../demo/app.mjs';
import { formatIdentityHeader, parseIdentityHeader } from '../src/gateway/identity-header.js';

const root = fileURLToPath(new URL('..', import.meta.url));

let app: DemoApp;

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/gateway/identity-header.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (the demo app imports from it)');
  }
  app = await startDemoApp({ port: 0, tickIntervalMs: 100 });
});

afterAll(async () => {
  await app?.close();
});

const ALICE = formatIdentityHeader({ subject: 'alice', roles: ['admin'], userType: 'human' });

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${app.url}${path}`, { redirect: 'manual', headers });
}

function postForm(
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${app.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

describe('sign-in and sign-out', () => {
  it('answers a valid sign-in with 303 to return_to and a Lapse-Begin the gateway can read', async () => {
    const res = await postForm('/login', { name: 'Alice B.', role: 'admin', return_to: '/form' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/form');
    const begin = res.headers.get('lapse-begin');
    expect(begin).not.toBeNull();
    expect(parseIdentityHeader(begin as string)).toEqual({
      subject: 'Alice B.',
      roles: ['admin'],
      userType: 'human',
    });
  });

  it.each([
    '//evil.example',
    '//evil.example/path',
    '/\\evil.example',
    '/\t/evil.example',
    'https://evil.example/',
    'evil.example',
    '',
  ])('sends a sign-in with return_to %j to / (no open redirect)', async (returnTo) => {
    const res = await postForm('/login', { name: 'bob', role: 'user', return_to: returnTo });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
  });

  it('keeps a same-origin return_to with its query', async () => {
    const res = await postForm('/login', { name: 'bob', role: 'user', return_to: '/feed?x=1' });
    expect(res.headers.get('location')).toBe('/feed?x=1');
  });

  it.each([
    { name: '', role: 'user' },
    { name: '   ', role: 'user' },
    { name: 'x'.repeat(65), role: 'user' },
    { name: '<script>', role: 'user' },
    { name: 'bob', role: 'root' },
    { name: 'bob' },
  ])('rejects a bad sign-in %j with a 400 page and no session', async (fields) => {
    const res = await postForm('/login', fields as Record<string, string>);
    expect(res.status).toBe(400);
    expect(res.headers.get('lapse-begin')).toBeNull();
    const html = await res.text();
    expect(html).toContain('role="alert"');
    expect(html).not.toContain('<script>"');
  });

  it('refuses a form body over 16 KB with 413', async () => {
    const res = await postForm('/login', { name: 'bob', role: 'user', pad: 'x'.repeat(17_000) });
    expect(res.status).toBe(413);
    expect(res.headers.get('lapse-begin')).toBeNull();
  });

  it('refuses a sign-in that is not a urlencoded form with 415', async () => {
    const res = await fetch(`${app.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bob', role: 'user' }),
    });
    expect(res.status).toBe(415);
  });

  it('refuses a cross-site form post (login CSRF)', async () => {
    const res = await postForm(
      '/login',
      { name: 'mallory', role: 'admin' },
      { 'sec-fetch-site': 'cross-site' },
    );
    expect(res.status).toBe(403);
    expect(res.headers.get('lapse-begin')).toBeNull();
  });

  it('answers sign-out with 303 to /login and Lapse-End: ?1', async () => {
    const res = await fetch(`${app.url}/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'lapse-identity': ALICE },
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/login');
    expect(res.headers.get('lapse-end')).toBe('?1');
  });

  it('shows the reason of an expiry on the sign-in page and keeps a safe return_to', async () => {
    const html = await (await get('/login?reason=idle&return_to=%2Ffeed')).text();
    expect(html).toContain('You were signed out after a period of inactivity.');
    expect(html).toContain('name="return_to" value="/feed"');
    const unsafe = await (await get('/login?return_to=%2F%2Fevil.example')).text();
    expect(unsafe).toContain('name="return_to" value="/"');
  });

  it('does not echo an unknown reason', async () => {
    const html = await (await get('/login?reason=%3Cb%3Ehacked%3C%2Fb%3E')).text();
    expect(html).not.toContain('hacked');
    expect(html).toContain('Please sign in to continue.');
  });
});

describe('identity from Lapse-Identity', () => {
  it('shows who is signed in, with their role', async () => {
    for (const path of ['/', '/form', '/feed']) {
      const html = await (await get(path, { 'lapse-identity': ALICE })).text();
      expect(html).toContain('<strong>alice</strong> (admin)');
      expect(html).toContain('action="/logout"');
    }
  });

  it.each([
    ['no header', {}],
    ['an unreadable header', { 'lapse-identity': 'subject=' }],
    ['a header without a subject', { 'lapse-identity': 'roles=("admin")' }],
  ])('treats %s as not signed in', async (_, headers: Record<string, string>) => {
    const html = await (await get('/', headers)).text();
    expect(html).toContain('You are not signed in');
    expect(html).toContain('href="/login"');
    expect(html).not.toContain('action="/logout"');
  });

  it('escapes the subject it shows', async () => {
    const header = formatIdentityHeader({ subject: '<img src=x>', roles: ['user'] });
    const html = await (await get('/', { 'lapse-identity': header })).text();
    expect(html).toContain('&lt;img src=x&gt;');
    expect(html).not.toContain('<img src=x>');
  });
});

describe('pages', () => {
  const pages: [string, () => Promise<Response>][] = [
    ['GET /', () => get('/', { 'lapse-identity': ALICE })],
    ['GET / signed out', () => get('/')],
    ['GET /login', () => get('/login?reason=absolute&return_to=/form')],
    ['GET /form', () => get('/form', { 'lapse-identity': ALICE })],
    ['GET /feed', () => get('/feed', { 'lapse-identity': ALICE })],
    ['POST /form', () => postForm('/form', { title: 't' }, { 'lapse-identity': ALICE })],
    ['POST /login (400)', () => postForm('/login', { name: '', role: 'user' })],
    ['GET /missing (404)', () => get('/missing')],
    ['GET /logout (405)', () => get('/logout')],
  ];

  it.each(pages)(
    '%s has a head, no-store and a CSP nonce on every inline script',
    async (_, load) => {
      const res = await load();
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const csp = res.headers.get('content-security-policy') ?? '';
      const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)' 'self'/.exec(csp)?.[1];
      expect(nonce).toBeDefined();
      expect(csp).toContain("connect-src 'self' ws: wss:");
      const html = await res.text();
      expect(html).toContain('</head>');
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      expect(scripts.length).toBeGreaterThan(0);
      for (const tag of scripts) expect(tag).toBe(`<script nonce="${nonce}">`);
      expect(html).toContain('background poll:');
      expect(html).toContain('/api/poll');
    },
  );

  it('uses a fresh nonce for every response', async () => {
    const nonces = await Promise.all(
      [1, 2, 3].map(async () => (await get('/')).headers.get('content-security-policy')),
    );
    expect(new Set(nonces).size).toBe(3);
  });

  it('answers an unknown path with a 404 page', async () => {
    const res = await get('/nothing/here');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('Not found');
  });

  it('offers a form with the fields the browser SDK cares about', async () => {
    const html = await (await get('/form', { 'lapse-identity': ALICE })).text();
    expect(html).toContain('<form method="post" action="/form">');
    expect(html).toContain('<textarea');
    expect(html).toContain('<select');
    expect(html).toContain('type="password"');
    expect(html).toContain('data-lapse-private');
  });

  it('shows a submitted form back, escaped, and never the password', async () => {
    const res = await postForm(
      '/form',
      {
        title: '<b>bold</b>',
        notes: 'line one\nline two',
        priority: 'high',
        password: 'hunter2-secret',
        code: '4242',
      },
      { 'lapse-identity': ALICE },
    );
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('&lt;b&gt;bold&lt;/b&gt;');
    expect(html).toContain('line one\nline two');
    expect(html).toContain('high');
    expect(html).not.toContain('hunter2-secret');
    expect(html).not.toContain('4242');
  });

  it('answers /healthz with ok', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('answers /api/poll with JSON', async () => {
    const res = await get('/api/poll', { 'lapse-identity': ALICE });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { now: unknown; unread: unknown };
    expect(typeof body.now).toBe('number');
    expect(Math.abs((body.now as number) - Date.now())).toBeLessThan(5_000);
    expect(Number.isInteger(body.unread)).toBe(true);
  });
});

describe('WebSocket /ws/feed', () => {
  function open(path: string): Promise<WebSocket> {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}${path}`, {
      headers: { 'lapse-identity': ALICE },
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  function nextMessage(socket: WebSocket, match: (data: Record<string, unknown>) => boolean) {
    return new Promise<Record<string, unknown>>((resolve) => {
      const onMessage = (raw: Buffer) => {
        const data = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
        if (!match(data)) return;
        socket.off('message', onMessage);
        resolve(data);
      };
      socket.on('message', onMessage);
    });
  }

  it('pushes ticks with a growing counter', async () => {
    const socket = await open('/ws/feed');
    try {
      const first = await nextMessage(socket, (data) => 'tick' in data);
      const second = await nextMessage(socket, (data) => 'tick' in data);
      expect(first.tick).toBe(1);
      expect(second.tick).toBe(2);
      expect(Number.isNaN(Date.parse(String(first.time)))).toBe(false);
    } finally {
      socket.close();
    }
  });

  it('echoes client messages', async () => {
    const socket = await open('/ws/feed');
    try {
      const echo = nextMessage(socket, (data) => 'echo' in data);
      socket.send('hello <there>');
      expect(await echo).toEqual({ echo: 'hello <there>' });
    } finally {
      socket.close();
    }
  });

  it('refuses an upgrade on another path with 404', async () => {
    const socket = new WebSocket(`${app.url.replace('http', 'ws')}/ws/other`);
    const status = await new Promise<number | undefined>((resolve) => {
      socket.once('unexpected-response', (_, res) => {
        resolve(res.statusCode);
        socket.terminate();
      });
      socket.once('error', () => resolve(undefined));
    });
    expect(status).toBe(404);
  });

  it('ends open sockets when the app closes', async () => {
    const other = await startDemoApp({ port: 0 });
    const socket = new WebSocket(`${other.url.replace('http', 'ws')}/ws/feed`);
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await other.close();
    await closed;
    expect(socket.readyState).toBe(WebSocket.CLOSED);
  });
});
