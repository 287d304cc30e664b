/**
 * Bad input at the gateway, over raw sockets: request smuggling shapes,
 * oversized and malformed requests, paths that would slip past the checks,
 * broken upgrades. Each gets a clear 4xx, nothing reaches the upstream, and
 * the gateway keeps serving.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gatewayYaml,
  type RunningGateway,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers/gateway-harness.js';
import { rawRequest } from './helpers/http-client.js';

/** Send raw bytes, read until the gateway closes the connection (or 3 s pass). */
function rawExchange(url: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(received);
    }, 3_000);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (received.length > 0) resolve(received);
      else reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(bytes);
  });
}

function statusOf(response: string): number {
  const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
  if (match === null)
    throw new Error(`not an HTTP response: ${JSON.stringify(response.slice(0, 80))}`);
  return Number(match[1]);
}

let upstream: Upstream;
let gateway: RunningGateway;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end('upstream'));
  });
  gateway = await startGateway(
    gatewayYaml(upstream.url, {
      gateway:
        '  public: ["/assets/**", "/upload"]\n  limits: { maxHeaderBytes: 8192, maxBodyBytes: 1000 }',
    }),
  );
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

async function expectStillServing(): Promise<void> {
  const res = await rawRequest(gateway.url, 'GET', '/assets/ok.css');
  expect(res.status).toBe(200);
  expect(res.body).toBe('upstream');
}

const CASES: Array<[string, string, number]> = [
  [
    'Content-Length together with Transfer-Encoding (CL.TE smuggling)',
    'POST /assets/x HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
    400,
  ],
  [
    'two different Content-Length headers',
    'POST /assets/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
    400,
  ],
  [
    'a Transfer-Encoding that does not end in chunked (TE.TE smuggling)',
    'POST /assets/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    400,
  ],
  [
    'an obfuscated Transfer-Encoding',
    'POST /assets/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n',
    400,
  ],
  ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
  ['a header with a NUL byte', 'GET /assets/x HTTP/1.1\r\nHost: a\r\nX-A: b\u0000c\r\n\r\n', 400],
  [
    'an absolute-form target (the gateway is not an open proxy)',
    'GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n',
    400,
  ],
  ['a dot segment', 'GET /assets/../admin HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['an encoded dot segment', 'GET /assets/%2e%2E/admin HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  [
    'a dot segment after an encoded slash',
    'GET /assets%2f..%2fadmin HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
  ],
  [
    'headers larger than maxHeaderBytes',
    `GET /assets/x HTTP/1.1\r\nHost: a\r\nCookie: ${'a'.repeat(10_000)}\r\n\r\n`,
    431,
  ],
  [
    'a declared body larger than maxBodyBytes',
    'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n',
    413,
  ],
  [
    'a chunked body that grows past maxBodyBytes',
    `POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${'3e8\r\n'}${'x'.repeat(1000)}\r\n${'3e8\r\n'}${'x'.repeat(1000)}\r\n0\r\n\r\n`,
    413,
  ],
  [
    'an upgrade without a WebSocket key',
    'GET /assets/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n',
    400,
  ],
  [
    'an upgrade with an unsupported WebSocket version',
    'GET /assets/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    400,
  ],
  [
    'an upgrade to something other than WebSocket',
    'GET /assets/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
    400,
  ],
  [
    'a WebSocket upgrade without a session',
    'GET /private/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    401,
  ],
];

describe('bad input gets a clear 4xx and the gateway keeps serving', () => {
  it.each(CASES)('%s', async (_name, bytes, status) => {
    const before = upstream.seen.length;
    const response = await rawExchange(gateway.url, bytes);
    expect(statusOf(response)).toBe(status);
    if (status !== 431 && status !== 413) expect(response).toMatch(/"error":"/);
    // Nothing of a rejected request reaches the upstream (the chunked body is cut off at the limit).
    if (status !== 413) expect(upstream.seen.length).toBe(before);
    await expectStillServing();
  });

  it('keeps serving after a client drops the connection mid-request', async () => {
    const { hostname, port } = new URL(gateway.url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), hostname, () => {
        socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\nabc');
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    await expectStillServing();
  });
});
