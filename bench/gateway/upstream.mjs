// The app behind every proxy, in its own process (forked by run.mjs): node:http
// on 127.0.0.1 (any free port), keep-alive.
//
//   GET  anything  200 "hello world" (text/plain, 11 bytes of body)
//   POST /login    the same, plus `Lapse-Begin: subject="bench"`: through the
//                  lapse gateway (identity upstream mode) that starts a session
//   WebSocket      accepted on any path; never sends anything (an idle socket)
//
// Sends `{ ready: true, port }` over IPC; exits when the parent goes away or on SIGTERM.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { formatIdentityHeader } from '../../dist/gateway/index.js';

const BODY = 'hello world';
const HEADERS = { 'Content-Type': 'text/plain', 'Content-Length': String(BODY.length) };
const LOGIN_HEADERS = { ...HEADERS, 'Lapse-Begin': formatIdentityHeader({ subject: 'bench' }) };

const server = createServer((req, res) => {
  const isLogin = req.method === 'POST' && req.url === '/login';
  // Drain a request body, if any, before answering (keeps the connection reusable).
  req.resume();
  res.writeHead(200, isLogin ? LOGIN_HEADERS : HEADERS);
  res.end(BODY);
});
// Longer than any proxy's pool keeps an idle connection: the proxy, not the app, closes them.
server.keepAliveTimeout = 60_000;

const sockets = new WebSocketServer({ server, clientTracking: false, perMessageDeflate: false });
sockets.on('connection', (socket) => {
  socket.on('error', () => socket.terminate());
});

server.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: true, port: server.address().port });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
