// The app behind the demo gateway (`npm start`): plain node:http, its own tiny sign-in, no
// session store. In `identity.mode: upstream` the gateway owns the session: this app starts one
// with the `Lapse-Begin` response header, ends it with `Lapse-End: ?1`, and learns who is signed
// in from the `Lapse-Identity` header the gateway adds to every request with a live session.
//
// Run it alone with `node demo/app.mjs` (port 3000); `npm start` runs it behind the gateway.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';
import { formatIdentityHeader, parseIdentityHeader } from '../dist/gateway/identity-header.js';

/** Largest form body accepted, bytes. */
const MAX_BODY_BYTES = 16 * 1024;
/** Largest WebSocket message accepted, bytes. */
const MAX_WS_MESSAGE_BYTES = 4 * 1024;
const POLL_INTERVAL_MS = 5_000;
const ROLES = ['user', 'admin'];
const NAME_PATTERN = /^[A-Za-z0-9 ._-]{1,64}$/;

/** What the login page says for each `?reason=` the gateway sends people back with. */
const REASON_MESSAGES = {
  idle: 'You were signed out after a period of inactivity.',
  absolute: 'Your session reached its maximum length, so you were signed out.',
  revoked: 'Your session was ended: you signed out elsewhere, or an administrator ended it.',
  missing: 'Please sign in to continue.',
  invalid: 'Your session was not recognised. Please sign in again.',
};

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------------------
// Small helpers

function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** The signed-in person from `Lapse-Identity`, or `undefined`: missing or unreadable is "not signed in". */
function identityOf(req) {
  const header = req.headers['lapse-identity'];
  if (typeof header !== 'string') return undefined;
  try {
    const identity = parseIdentityHeader(header);
    return { name: identity.subject, role: identity.roles.join(', ') || 'no role' };
  } catch {
    return undefined;
  }
}

/**
 * `value` if it is a path on this site, else `/`: one leading "/" (not "//" or "/\", which
 * browsers read as another host), printable ASCII only (browsers drop tabs and newlines, so
 * "/\t/evil.example" would become "//evil.example").
 */
function safeReturnTo(value) {
  if (typeof value !== 'string' || value.length > 2048) return '/';
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/';
  if (!/^[\x21-\x7e]*$/.test(value) || value.includes('\\')) return '/';
  const base = 'http://demo.invalid';
  return new URL(value, base).origin === base ? value : '/';
}

/** The path and query of a request, without letting `//host/...` parse as a host. */
function splitUrl(url = '/') {
  const at = url.indexOf('?');
  return at === -1
    ? { path: url, query: new URLSearchParams() }
    : { path: url.slice(0, at), query: new URLSearchParams(url.slice(at + 1)) };
}

async function readForm(req) {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new HttpError(415, 'Send the form as application/x-www-form-urlencoded.');
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) {
    throw new HttpError(413, 'That form is too large.');
  }
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'That form is too large.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** A browser's cross-site form post (login or logout CSRF) is refused; other clients send no such header. */
function assertNotCrossSite(req) {
  if (req.headers['sec-fetch-site'] === 'cross-site') {
    throw new HttpError(403, 'Cross-site form posts are not accepted.');
  }
}

function send(res, status, headers, body = '') {
  res.writeHead(status, { 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sendJson(res, status, value) {
  send(
    res,
    status,
    { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
    JSON.stringify(value),
  );
}

// ---------------------------------------------------------------------------
// Scripts that run in the page. Each is serialised with toString(), so it must not use anything
// from this module; each gets the response's CSP nonce.

/** The passive background poller: GET /api/poll every 5 s, shown in the footer. */
function pollScript(intervalMs) {
  const out = document.getElementById('poll');
  async function poll() {
    try {
      const response = await fetch('/api/poll', { headers: { accept: 'application/json' } });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        out.textContent = `${new Date(data.now).toLocaleTimeString()}, ${data.unread} unread`;
      } else if (response.status === 401) {
        out.textContent = `not signed in (401${data.reason ? `, ${data.reason}` : ''})`;
      } else {
        out.textContent = `HTTP ${response.status}`;
      }
    } catch {
      out.textContent = 'unreachable';
    }
  }
  poll();
  setInterval(poll, intervalMs);
}

/** The live feed: a WebSocket to /ws/feed, its pushes, our messages and the close code. */
function feedScript() {
  const log = document.getElementById('log');
  const state = document.getElementById('state');
  const form = document.getElementById('send');
  const input = document.getElementById('message');
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}/ws/feed`);
  function show(text, kind) {
    const item = document.createElement('li');
    item.className = kind;
    item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    log.prepend(item);
    while (log.children.length > 50) log.lastElementChild.remove();
  }
  socket.addEventListener('open', () => {
    state.textContent = 'connected';
  });
  socket.addEventListener('message', (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return show(String(event.data), 'push');
    }
    if ('echo' in data) show(`echo: ${data.echo}`, 'echo');
    else if ('tick' in data) show(`tick #${data.tick} at ${data.time}`, 'push');
    else show(JSON.stringify(data), 'push');
  });
  socket.addEventListener('close', (event) => {
    const reason = event.reason ? ` ${event.reason}` : '';
    state.textContent = `closed: ${event.code}${reason}`;
    show(`connection closed: ${event.code}${reason}`, 'closed');
    form.querySelector('button').disabled = true;
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (socket.readyState !== WebSocket.OPEN || input.value === '') return;
    socket.send(input.value);
    show(`sent: ${input.value}`, 'sent');
    input.value = '';
  });
}

// ---------------------------------------------------------------------------
// Pages

const STYLE = `
  :root { color-scheme: light dark; --accent: #2563eb; --muted: #6b7280; --line: #d1d5db; }
  * { box-sizing: border-box; }
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; }
  header, main, footer { max-width: 44rem; margin: 0 auto; padding: 1rem 1.25rem; }
  header { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; border-bottom: 1px solid var(--line); }
  header .brand { font-weight: 700; margin-right: auto; color: inherit; text-decoration: none; }
  header form { display: inline; margin: 0; }
  footer { color: var(--muted); font-size: 0.875rem; border-top: 1px solid var(--line); }
  a { color: var(--accent); }
  label { display: block; margin: 0.75rem 0 0.25rem; font-weight: 600; }
  input, select, textarea, button { font: inherit; padding: 0.4rem 0.6rem; border: 1px solid var(--line); border-radius: 0.375rem; }
  input[type=text], input[type=password], select, textarea { width: 100%; }
  button { background: var(--accent); color: white; border-color: var(--accent); cursor: pointer; }
  button:disabled { opacity: 0.5; cursor: default; }
  header button { background: none; color: var(--accent); border: none; padding: 0; text-decoration: underline; }
  .notice { padding: 0.75rem 1rem; border-radius: 0.375rem; background: #fef3c7; color: #78350f; }
  .error { background: #fee2e2; color: #7f1d1d; }
  .hint { color: var(--muted); font-size: 0.875rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
  dd { margin: 0; white-space: pre-wrap; word-break: break-word; }
  #log { list-style: none; padding: 0; font-family: ui-monospace, monospace; font-size: 0.875rem; }
  #log .echo { color: var(--accent); } #log .closed { color: #b91c1c; font-weight: 600; }
  .row { display: flex; gap: 0.5rem; } .row input { flex: 1; }
`;

function newNonce() {
  return randomBytes(16).toString('base64');
}

function securityHeaders(nonce) {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': `default-src 'self'; script-src 'nonce-${nonce}' 'self'; connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'`,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
  };
}

function nav(identity) {
  const who = identity
    ? `<span>Signed in as <strong>${escapeHtml(identity.name)}</strong> (${escapeHtml(identity.role)})</span>
       <form method="post" action="/logout"><button type="submit">Sign out</button></form>`
    : '<a href="/login">Sign in</a>';
  return `<a class="brand" href="/">lapse demo</a>
    <a href="/form">Form</a>
    <a href="/feed">Live feed</a>
    ${who}`;
}

/** Send a whole HTML page: a fresh CSP nonce on every inline script, the poller in the footer. */
function sendPage(res, { status = 200, title, identity, body, scripts = [] }) {
  const nonce = newNonce();
  const inline = [...scripts, `(${pollScript})(${POLL_INTERVAL_MS});`]
    .map((code) => `<script nonce="${nonce}">${code}</script>`)
    .join('\n');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · lapse demo</title>
<style>${STYLE}</style>
</head>
<body>
<header>${nav(identity)}</header>
<main>
${body}
</main>
<footer>
  background poll: <output id="poll">…</output><br>
  <span class="hint">GET /api/poll runs every ${POLL_INTERVAL_MS / 1000} s. The policy marks it passive: the
  gateway checks it but it does not keep your session alive.</span>
</footer>
${inline}
</body>
</html>
`;
  send(res, status, securityHeaders(nonce), html);
}

function sendErrorPage(res, status, message, identity) {
  const titles = {
    400: 'Bad request',
    403: 'Forbidden',
    404: 'Not found',
    405: 'Method not allowed',
  };
  const title = titles[status] ?? (status >= 500 ? 'Something went wrong' : 'Request not accepted');
  sendPage(res, {
    status,
    title,
    identity,
    body: `<h1>${escapeHtml(title)}</h1>
<p class="notice error">${escapeHtml(message)}</p>
<p><a href="/">Back to the start page</a></p>`,
  });
}

function homePage(res, identity) {
  const status = identity
    ? `<p>Hello <strong>${escapeHtml(identity.name)}</strong>, you are signed in as
  <strong>${escapeHtml(identity.role)}</strong>.</p>
<ul>
  <li><a href="/form">Fill in a form</a>: a draft survives an expiry (not the password or the private field).</li>
  <li><a href="/feed">Open the live feed</a>: a WebSocket through the gateway.</li>
</ul>
<form method="post" action="/logout"><button type="submit">Sign out</button></form>`
    : `<p class="notice">You are not signed in. <a href="/login">Sign in</a> to try the demo.</p>`;
  sendPage(res, {
    title: 'Home',
    identity,
    body: `<h1>lapse demo</h1>
${status}
<h2>What this shows</h2>
<p>The gateway in front of this app ends your session after a period of inactivity
(2 minutes, 60 seconds for admins; at most 15 minutes in all, see <code>demo/lapse.yaml</code>) and warns
you shortly before (30 seconds, 20 for admins), with a chance to stay signed in. The background poller
in the footer keeps running but is passive, so it does not keep the session alive: only you do, by using
the page. The live feed is a WebSocket: the gateway closes it with <code>4401 session_expired:idle</code>
when the session ends.</p>`,
  });
}

function loginPage(
  res,
  { identity, reason, returnTo, name = '', role = 'user', error, status = 200 },
) {
  const message =
    error !== undefined
      ? `<p class="notice error" role="alert">${escapeHtml(error)}</p>`
      : reason !== undefined && reason !== ''
        ? `<p class="notice" role="status">${escapeHtml(REASON_MESSAGES[reason] ?? 'Please sign in to continue.')}</p>`
        : '';
  const already = identity
    ? `<p class="hint">You are signed in as ${escapeHtml(identity.name)}; signing in again starts a new session.</p>`
    : '';
  const options = ROLES.map(
    (value) =>
      `<option value="${value}"${value === role ? ' selected' : ''}>${value}${value === 'admin' ? ' (shorter timeout)' : ''}</option>`,
  ).join('');
  sendPage(res, {
    status,
    title: 'Sign in',
    identity,
    body: `<h1>Sign in</h1>
${message}
${already}
<form method="post" action="/login">
  <input type="hidden" name="return_to" value="${escapeHtml(returnTo)}">
  <label for="name">Your name</label>
  <input type="text" id="name" name="name" value="${escapeHtml(name)}" required maxlength="64"
    pattern="[A-Za-z0-9 ._\\-]{1,64}" autocomplete="username" autofocus>
  <p class="hint">Letters, digits, spaces and . - _ (up to 64). No password: this is a demo.</p>
  <label for="role">Role</label>
  <select id="role" name="role">${options}</select>
  <p><button type="submit">Sign in</button></p>
</form>`,
  });
}

function formPage(res, identity) {
  sendPage(res, {
    title: 'Form',
    identity,
    body: `<h1>A form</h1>
${identity ? '' : '<p class="notice">You are not signed in. <a href="/login?return_to=/form">Sign in</a></p>'}
<p>Start typing, then leave the page alone until the session ends. The browser keeps a draft of what
you typed and puts it back after you sign in again; the password and the field marked private are
never kept.</p>
<form method="post" action="/form">
  <label for="title">Title</label>
  <input type="text" id="title" name="title" maxlength="200">
  <label for="notes">Notes</label>
  <textarea id="notes" name="notes" rows="5" maxlength="4000"></textarea>
  <label for="priority">Priority</label>
  <select id="priority" name="priority">
    <option value="low">low</option><option value="normal" selected>normal</option><option value="high">high</option>
  </select>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="off">
  <label for="code">Private code</label>
  <input type="text" id="code" name="code" data-lapse-private autocomplete="off">
  <p class="hint">Marked <code>data-lapse-private</code>: never saved in a draft.</p>
  <p><button type="submit">Send</button></p>
</form>`,
  });
}

function formResultPage(res, identity, form) {
  const field = (label, value) => `<dt>${label}</dt><dd>${escapeHtml(value)}</dd>`;
  const hidden = (label, value) =>
    `<dt>${label}</dt><dd>${value ? `received (${value.length} characters), not shown` : '(empty)'}</dd>`;
  sendPage(res, {
    title: 'Form sent',
    identity,
    body: `<h1>Received</h1>
<dl>
  ${field('Title', form.get('title') ?? '')}
  ${field('Notes', form.get('notes') ?? '')}
  ${field('Priority', form.get('priority') ?? '')}
  ${hidden('Password', form.get('password') ?? '')}
  ${hidden('Private code', form.get('code') ?? '')}
</dl>
<p><a href="/form">Fill it in again</a></p>`,
  });
}

function feedPage(res, identity) {
  sendPage(res, {
    title: 'Live feed',
    identity,
    body: `<h1>Live feed</h1>
${identity ? '' : '<p class="notice">You are not signed in. <a href="/login?return_to=/feed">Sign in</a></p>'}
<p>A WebSocket to <code>/ws/feed</code>: the server pushes a tick every 2 seconds, and echoes what you
send. Your messages count as activity; the server's ticks do not. When the session ends the gateway
closes the socket with code 4401.</p>
<p>Socket: <strong id="state">connecting…</strong></p>
<form id="send" class="row">
  <input type="text" id="message" aria-label="Message" maxlength="500" autocomplete="off">
  <button type="submit">Send</button>
</form>
<ul id="log" aria-live="polite"></ul>`,
    scripts: [`(${feedScript})();`],
  });
}

// ---------------------------------------------------------------------------
// Routes

async function handle(req, res) {
  const { path, query } = splitUrl(req.url);
  const identity = identityOf(req);
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const allow = (methods) => {
    if (methods.includes(method)) return true;
    res.setHeader('Allow', methods.join(', '));
    sendErrorPage(res, 405, `Use ${methods.join(' or ')} here.`, identity);
    return false;
  };

  switch (path) {
    case '/':
      if (allow(['GET'])) homePage(res, identity);
      return;
    case '/login':
      if (!allow(['GET', 'POST'])) return;
      if (method === 'GET') {
        return loginPage(res, {
          identity,
          reason: query.get('reason') ?? undefined,
          returnTo: safeReturnTo(query.get('return_to')),
        });
      }
      return signIn(req, res, identity);
    case '/logout':
      if (!allow(['POST'])) return;
      assertNotCrossSite(req);
      return send(res, 303, { Location: '/login', 'Lapse-End': '?1', 'Cache-Control': 'no-store' });
    case '/form':
      if (!allow(['GET', 'POST'])) return;
      if (method === 'GET') return formPage(res, identity);
      assertNotCrossSite(req);
      return formResultPage(res, identity, await readForm(req));
    case '/feed':
      if (allow(['GET'])) feedPage(res, identity);
      return;
    case '/api/poll':
      if (!allow(['GET'])) return;
      // Something that changes now and then, as unread counts do.
      return sendJson(res, 200, { now: Date.now(), unread: Math.floor(Date.now() / 20_000) % 7 });
    case '/healthz':
      if (allow(['GET']))
        send(res, 200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }, 'ok');
      return;
    default:
      return sendErrorPage(res, 404, 'There is no page here.', identity);
  }
}

async function signIn(req, res, identity) {
  assertNotCrossSite(req);
  const form = await readForm(req);
  const name = (form.get('name') ?? '').trim();
  const role = form.get('role') ?? '';
  const returnTo = safeReturnTo(form.get('return_to'));
  const error = !NAME_PATTERN.test(name)
    ? 'Give a name of 1 to 64 letters, digits, spaces or . - _'
    : !ROLES.includes(role)
      ? 'Pick the role user or admin.'
      : undefined;
  if (error !== undefined) {
    return loginPage(res, {
      identity,
      returnTo,
      name,
      role: ROLES.includes(role) ? role : 'user',
      error,
      status: 400,
    });
  }
  send(res, 303, {
    Location: returnTo,
    'Lapse-Begin': formatIdentityHeader({ subject: name, roles: [role], userType: 'human' }),
    'Cache-Control': 'no-store',
  });
}

function onRequest(req, res) {
  handle(req, res).catch((error) => {
    if (error instanceof HttpError) {
      if (!res.headersSent) return sendErrorPage(res, error.status, error.message, identityOf(req));
    } else {
      console.error('demo app: unexpected error', error);
      if (!res.headersSent) {
        return sendErrorPage(res, 500, 'The demo app could not answer this request.', undefined);
      }
    }
    res.destroy();
  });
}

// ---------------------------------------------------------------------------
// WebSocket /ws/feed

function attachFeed(server, tickIntervalMs) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WS_MESSAGE_BYTES });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (splitUrl(req.url).path !== '/ws/feed') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws) => {
    let tick = 0;
    const timer = setInterval(() => {
      tick += 1;
      ws.send(JSON.stringify({ tick, time: new Date().toISOString() }));
    }, tickIntervalMs);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) ws.send(JSON.stringify({ echo: data.toString('utf8') }));
    });
    ws.on('close', () => clearInterval(timer));
    ws.on('error', () => clearInterval(timer));
  });
  return wss;
}

// ---------------------------------------------------------------------------

/**
 * Start the demo app on `host:port` (port 0: any free port). Rejects if it cannot listen
 * (`error.code` is `EADDRINUSE` when the port is taken).
 *
 * @example
 * import { startDemoApp } from './demo/app.mjs';
 * const app = await startDemoApp({ port: 0 });
 * console.log(app.url);
 * await app.close();
 */
export function startDemoApp({ host = '127.0.0.1', port = 3000, tickIntervalMs = 2_000 } = {}) {
  const server = createServer(onRequest);
  const wss = attachFeed(server, tickIntervalMs);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        url: `http://${urlHost}:${address.port}`,
        port: address.port,
        close: () =>
          new Promise((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  startDemoApp().then(
    (app) => console.log(`demo app listening on ${app.url} (run it behind the gateway: npm start)`),
    (error) => {
      console.error(
        error.code === 'EADDRINUSE'
          ? 'demo app: port 3000 is already in use; stop what is listening there and try again'
          : `demo app: ${error.message}`,
      );
      process.exit(1);
    },
  );
}
