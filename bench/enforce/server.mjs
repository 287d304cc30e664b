// One benchmark target in its own process: `node bench/enforce/server.mjs <target>`,
// started by run.mjs with child_process.fork. It listens on 127.0.0.1 (any free
// port), prints `port <n>`, answers `{ type: 'cpu' }` over IPC with its
// process.cpuUsage(), and exits when the parent goes away (IPC disconnect) or on
// SIGTERM, so no server outlives a run.
//
// Every target serves the same JSON body on GET /api/data. The lapse targets
// and the express-session peer also answer POST /login (sign in as `bench`) and
// reject GET /api/data with 401 when the request carries no live session.
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { DATA_PATH, LOGIN_PATH, TARGETS } from './targets.mjs';

const BODY = JSON.stringify({ ok: true, items: [1, 2, 3], message: 'hello from the bench' });

/** The small JSON response every target sends. */
function sendData(res) {
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(BODY);
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** The bare handler: targets 1 and 2 share it (2 adds the login route lapse needs). */
function bareHandler(req, res) {
  if (req.method === 'GET' && req.url === DATA_PATH) sendData(res);
  else sendJson(res, 404, { error: 'not found' });
}

/** Idle 15m, absolute 8h: the policy of the issue, loaded like a policy file. */
const POLICY_YAML = 'version: 1\npolicy:\n  defaults: { idle: 15m, absolute: 8h }\n';

async function benchLapse() {
  const { createLapse, loadPolicy } = await import('lapse');
  return createLapse({
    policy: loadPolicy(POLICY_YAML, 'bench.lapse.yaml'),
    loginUrl: LOGIN_PATH,
    // Plain http on 127.0.0.1: the cookie cannot be Secure.
    cookie: { development: true },
  });
}

async function nodeLapseHandler() {
  const { withLapse } = await import('lapse/node');
  const lapse = await benchLapse();
  return withLapse(lapse, async (req, res) => {
    if (req.method === 'POST' && req.url === LOGIN_PATH) {
      await req.lapse.begin({ subject: 'bench' });
      sendJson(res, 200, { ok: true });
    } else {
      bareHandler(req, res);
    }
  });
}

async function expressApp(target) {
  const { default: express } = await import('express');
  const app = express();
  if (target === 'express-lapse') {
    const { lapseMiddleware } = await import('lapse/express');
    app.use(lapseMiddleware(await benchLapse()));
    app.post(LOGIN_PATH, async (req, res) => {
      await req.lapse.begin({ subject: 'bench' });
      res.json({ ok: true });
    });
  } else if (target === 'express-session') {
    const { default: session } = await import('express-session');
    app.use(
      session({
        secret: 'lapse-bench-not-a-secret',
        name: 'bench_sid',
        rolling: true,
        resave: false,
        saveUninitialized: false,
        cookie: { httpOnly: true, sameSite: 'lax', maxAge: 15 * 60 * 1000 },
      }),
    );
    app.post(LOGIN_PATH, (req, res) => {
      req.session.user = 'bench';
      res.json({ ok: true });
    });
    // The same gate lapse applies: no signed-in session, no data.
    app.use((req, res, next) => {
      if (req.session.user === undefined) res.status(401).json({ error: 'unauthorized' });
      else next();
    });
  }
  app.get(DATA_PATH, (_req, res) => {
    sendData(res);
  });
  return app;
}

async function listenerFor(target) {
  switch (target) {
    case 'node':
      return bareHandler;
    case 'node-lapse':
      return nodeLapseHandler();
    case 'express':
    case 'express-lapse':
    case 'express-session':
      return expressApp(target);
    default:
      throw new Error(`unknown target ${target}; use one of ${TARGETS.map((t) => t.name)}`);
  }
}

async function main(target) {
  const server = createServer(await listenerFor(target));
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  console.log(`port ${port}`);
  if (process.send) {
    process.on('message', (message) => {
      if (message?.type === 'cpu') process.send(process.cpuUsage());
    });
    process.on('disconnect', () => process.exit(0));
  }
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv[2]).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
