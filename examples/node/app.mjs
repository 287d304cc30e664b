// The node:http example: withLapse() wraps a plain handler; the app keeps its own login.
import { createServer } from 'node:http';
import { withLapse } from 'lapse/node';

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 16 * 1024) throw new Error('body too large');
  }
  return text.length === 0 ? {} : JSON.parse(text);
}

/** The request handler, wrapped by lapse (the tests pass a lapse with a test clock). */
export function createHandler(lapse) {
  return withLapse(lapse, async (req, res) => {
    const path = new URL(req.url, 'http://localhost').pathname;
    const route = `${req.method} ${path}`;
    if (route === 'GET /login') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<form method="post" action="/login">…your sign-in form…</form>');
    } else if (route === 'POST /login') {
      let body;
      try {
        body = await readJson(req);
      } catch {
        return json(res, 400, { error: 'invalid JSON' });
      }
      const { subject, roles = [], userType = 'human' } = body;
      if (typeof subject !== 'string' || subject.length === 0)
        return json(res, 400, { error: 'subject required' });
      const status = await req.lapse.begin({ subject, roles, userType });
      json(res, 200, { ok: true, subject, absoluteExpiresAt: status.absoluteExpiresAt });
    } else if (route === 'GET /') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(`<h1>Hello ${req.lapse.subject}</h1>`);
    } else if (route === 'GET /api/me') {
      json(res, 200, {
        subject: req.lapse.subject,
        roles: req.lapse.roles,
        userType: req.lapse.userType,
      });
    } else if (route === 'GET /api/poll') {
      json(res, 200, { notifications: [] });
    } else if (route === 'POST /api/rotate') {
      const body = await readJson(req);
      await req.lapse.rotate({ roles: body.roles ?? req.lapse.roles });
      json(res, 200, { ok: true, roles: req.lapse.roles });
    } else if (route === 'POST /logout') {
      await req.lapse.end();
      json(res, 200, { ok: true });
    } else {
      json(res, 404, { error: 'not found' });
    }
  });
}

/** Listen on `port` (0: any free port); resolves with the URL and a close function. */
export function start(lapse, port = 0) {
  return new Promise((resolve) => {
    const server = createServer(createHandler(lapse));
    server.listen(port, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
