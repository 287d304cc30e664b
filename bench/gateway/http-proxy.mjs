// The plain Node reverse proxy, without enforcement (forked by run.mjs):
// `http-proxy` in front of the upstream, over a keep-alive pool like the
// gateway's (undici, 256 connections). `node http-proxy.mjs <upstream URL>`.
//
// Sends `{ ready: true, port }` over IPC; exits when the parent goes away or on SIGTERM.
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const target = process.argv[2];
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target, agent });
proxy.on('error', (_error, _req, res) => {
  // `res` is a socket for a failed upgrade; this bench sends none.
  if (typeof res.writeHead === 'function' && !res.headersSent) {
    res.writeHead(502, { 'Content-Type': 'text/plain' });
  }
  res.end();
});

const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ ready: true, port: server.address().port });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
