// The Hono example: web-standard middleware, served by @hono/node-server.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { lapseHono } from 'lapse/hono';

/** Build the app around a lapse instance (the tests pass one with a test clock). */
export function createApp(lapse) {
  const app = new Hono();
  app.use(lapseHono(lapse));

  app.get('/login', (c) =>
    c.html('<form method="post" action="/login">…your sign-in form…</form>'),
  );
  app.post('/login', async (c) => {
    const body = await c.req.json().catch(() => ({}));
    const { subject, roles = [], userType = 'human' } = body ?? {};
    if (typeof subject !== 'string' || subject.length === 0)
      return c.json({ error: 'subject required' }, 400);
    const status = await c.get('lapse').begin({ subject, roles, userType });
    return c.json({ ok: true, subject, absoluteExpiresAt: status.absoluteExpiresAt });
  });
  app.get('/', (c) => c.html(`<h1>Hello ${c.get('lapse').subject}</h1>`));
  app.get('/api/me', (c) => {
    const session = c.get('lapse');
    return c.json({ subject: session.subject, roles: session.roles, userType: session.userType });
  });
  app.get('/api/poll', (c) => c.json({ notifications: [] }));
  app.post('/api/rotate', async (c) => {
    const body = await c.req.json().catch(() => ({}));
    const session = c.get('lapse');
    await session.rotate({ roles: body.roles ?? session.roles });
    return c.json({ ok: true, roles: session.roles });
  });
  app.post('/logout', async (c) => {
    await c.get('lapse').end();
    return c.json({ ok: true });
  });
  return app;
}

/** Listen on `port` (0: any free port); resolves with the URL and a close function. */
export function start(lapse, port = 0) {
  return new Promise((resolve) => {
    const server = serve({ fetch: createApp(lapse).fetch, port, hostname: '127.0.0.1' }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
