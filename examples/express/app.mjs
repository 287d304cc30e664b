// The Express example: lapse guards every route; the app keeps its own login.
import express from 'express';
import { lapseMiddleware } from 'lapse/express';

/**
 * Build the app around a lapse instance (the tests pass one with a test clock).
 * `framework` is the express module to use: the same app runs on Express 5 and 4.
 */
export function createApp(lapse, framework = express) {
  const app = framework();
  app.use(framework.json({ limit: '16kb' }));
  app.use(lapseMiddleware(lapse));

  app.get('/login', (_req, res) => {
    res.type('html').send('<form method="post" action="/login">…your sign-in form…</form>');
  });
  // Public (it is the loginUrl): after the app's own password check, start a session.
  app.post('/login', async (req, res) => {
    const { subject, roles = [], userType = 'human' } = req.body ?? {};
    if (typeof subject !== 'string' || subject.length === 0) {
      res.status(400).json({ error: 'subject required' });
      return;
    }
    const status = await req.lapse.begin({ subject, roles, userType });
    res.json({ ok: true, subject, absoluteExpiresAt: status.absoluteExpiresAt });
  });
  app.get('/', (req, res) => {
    res.type('html').send(`<h1>Hello ${req.lapse.subject}</h1>`);
  });
  app.get('/api/me', (req, res) => {
    res.json({ subject: req.lapse.subject, roles: req.lapse.roles, userType: req.lapse.userType });
  });
  app.get('/api/poll', (_req, res) => {
    res.json({ notifications: [] });
  });
  app.post('/api/rotate', async (req, res) => {
    await req.lapse.rotate({ roles: req.body?.roles ?? req.lapse.roles });
    res.json({ ok: true, roles: req.lapse.roles });
  });
  app.post('/logout', async (req, res) => {
    await req.lapse.end();
    res.json({ ok: true });
  });
  return app;
}

/** Listen on `port` (0: any free port); resolves with the URL and a close function. */
export function start(lapse, port = 0, framework = express) {
  return new Promise((resolve) => {
    const server = createApp(lapse, framework).listen(port, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
