/**
 * `injectClient: true` through the real gateway: compressed HTML gets the
 * script tag with the page's CSP nonce and a correct body; pages the tag may
 * not run on, public pages and non-HTML pass untouched.
 */

import { request } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityHeader } from '../src/gateway/identity-header.js';
import {
  gatewayYaml,
  type RunningGateway,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers/gateway-harness.js';
import { cookieValue, rawRequest } from './helpers/http-client.js';

const PAGE = '<!doctype html><html><head><title>t</title></head><body>hello</body></html>';

let upstream: Upstream;
let gateway: RunningGateway;
let cookie: string;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    if (req.url === '/login') {
      res.setHeader('Lapse-Begin', formatIdentityHeader({ subject: 'u1' }));
      res.end();
      return;
    }
    if (req.url === '/strict') {
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Content-Security-Policy', "script-src 'strict-dynamic' https://cdn.example");
      res.end(PAGE);
      return;
    }
    if (req.url === '/data') {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"a":1}');
      return;
    }
    const body = gzipSync(PAGE);
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Content-Encoding', 'gzip');
    res.setHeader('Content-Length', body.length);
    res.setHeader('Content-Security-Policy', "script-src 'nonce-abc123'");
    res.end(body);
  });
  gateway = await startGateway(
    gatewayYaml(upstream.url, { route: 'injectClient: true', gateway: '  public: ["/open/**"]' }),
  );
  const login = await rawRequest(gateway.url, 'POST', '/login');
  cookie = `lapse_sid=${cookieValue(login.cookies, 'lapse_sid')}`;
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

/** GET through the gateway, body as raw bytes. */
function getRaw(path: string, headers: Record<string, string>) {
  const { hostname, port } = new URL(gateway.url);
  return new Promise<{ headers: import('node:http').IncomingHttpHeaders; body: Buffer }>(
    (resolve, reject) => {
      request({ host: hostname, port, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    },
  );
}

describe('client injection through the gateway', () => {
  it('injects into a gzip page with the page nonce, keeping the encoding and dropping the stale length', async () => {
    const res = await getRaw('/page', { cookie, 'accept-encoding': 'gzip' });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-length']).toBeUndefined();
    const html = gunzipSync(res.body).toString('utf8');
    expect(html).toBe(
      PAGE.replace(
        '</head>',
        '<script src="/_lapse/client.js" data-login-url="/login" nonce="abc123" defer=""></script></head>',
      ),
    );
  });

  it('leaves a page alone when its CSP would block the script', async () => {
    const res = await getRaw('/strict', { cookie });
    expect(res.body.toString('utf8')).toBe(PAGE);
  });

  it('leaves non-HTML and pages without a live session alone', async () => {
    expect((await getRaw('/data', { cookie })).body.toString()).toBe('{"a":1}');
    const open = await getRaw('/open/page', {});
    expect(gunzipSync(open.body).toString('utf8')).toBe(PAGE);
    expect(open.headers['content-length']).toBeDefined();
  });
});
