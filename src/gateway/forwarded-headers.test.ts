import { createServer, IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, Socket } from 'node:net';
import fc from 'fast-check';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientResponseHeaders,
  cookieHeaderWithout,
  type ForwardingFacts,
  upstreamRequestHeaders,
} from './forwarded-headers.js';

/** A gateway's view of a request: node:http parses it from bytes we write ourselves. */
let server: Server;
const waiting: Array<(req: IncomingMessage) => void> = [];
/** `req.socket.remoteAddress` as the gateway reads it, while the connection is open. */
const clientAddresses = new WeakMap<IncomingMessage, string | undefined>();

beforeAll(async () => {
  server = createServer((req, res) => {
    clientAddresses.set(req, req.socket.remoteAddress);
    waiting.shift()?.(req);
    req.resume();
    req.on('end', () => {
      res.writeHead(204, { connection: 'close' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/**
 * The IncomingMessage node:http makes of a raw request head (lines joined
 * with CRLF), so header order, case and duplicates are exactly as written.
 */
async function receive(lines: readonly string[], body = ''): Promise<IncomingMessage> {
  const received = new Promise<IncomingMessage>((resolve) => waiting.push(resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.on('data', () => undefined);
  socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  const req = await received;
  await closed;
  return req;
}

const facts = (
  req: IncomingMessage,
  overrides: Partial<ForwardingFacts> = {},
): ForwardingFacts => ({
  clientAddress: clientAddresses.has(req) ? clientAddresses.get(req) : req.socket.remoteAddress,
  protocol: 'http',
  sessionCookie: 'lapse_sid',
  identity: undefined,
  ...overrides,
});

/** A request built in memory, for headers node:http would not let through as written. */
function requestWith(headers: IncomingMessage['headers']): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  return req;
}

describe('upstreamRequestHeaders: hop-by-hop headers', () => {
  it('removes every hop-by-hop header and keeps the end-to-end ones', async () => {
    const req = await receive(
      [
        'POST /x HTTP/1.1',
        'Host: app.example',
        'Connection: keep-alive',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        'TE: trailers',
        'Trailer: X-Checksum',
        'Upgrade: h2c',
        'HTTP2-Settings: AAMAAABkAAQAAP__',
        'Expect: 100-continue',
        'Transfer-Encoding: chunked',
        'Accept: text/html',
        'Authorization: Bearer abc',
        'X-Keep: yes',
      ],
      '0\r\n\r\n',
    );
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers).toStrictEqual({
      host: 'app.example',
      accept: 'text/html',
      authorization: 'Bearer abc',
      'x-keep': 'yes',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'app.example',
    });
  });

  it('removes the headers a Connection header names, whatever their case', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Connection: keep-alive, X-Foo ,x-BAR',
      'X-Foo: 1',
      'X-Bar: 2',
      'X-Baz: 3',
    ]);
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers).not.toHaveProperty('x-foo');
    expect(headers).not.toHaveProperty('x-bar');
    expect(headers).not.toHaveProperty('connection');
    expect(headers['x-baz']).toBe('3');
  });

  it('removes the headers named by every one of several Connection headers', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Connection: x-first',
      'X-First: 1',
      'X-Second: 2',
      'Connection: x-second',
      'X-Third: 3',
    ]);
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(Object.keys(headers)).not.toContain('x-first');
    expect(Object.keys(headers)).not.toContain('x-second');
    expect(headers['x-third']).toBe('3');
  });

  it('removes the Connection-named headers of a header map with an array value', () => {
    const req = requestWith({
      host: 'a',
      connection: ['x-one', 'x-two'] as unknown as string,
      'x-one': '1',
      'x-two': '2',
      'x-three': '3',
    });
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers).toStrictEqual({
      host: 'a',
      'x-three': '3',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'a',
    });
  });
});

describe('upstreamRequestHeaders: lapse headers', () => {
  it('removes every Lapse-* header a client sends, whatever its case', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Lapse-Identity: subject="admin", roles=("admin")',
      'LAPSE-BEGIN: subject="admin"',
      'lapse-end: ?1',
      'Lapse-Anything: x',
      'X-Lapse-Keep: kept',
    ]);
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(Object.keys(headers).filter((name) => name.startsWith('lapse-'))).toStrictEqual([]);
    expect(headers['x-lapse-keep']).toBe('kept');
  });

  it('adds Lapse-Identity of a live session in place of one a client forged', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Lapse-Identity: subject="admin", roles=("admin")',
    ]);
    const identity = 'subject="u1", roles=("dev")';
    const headers = upstreamRequestHeaders(req, facts(req, { identity }));
    expect(headers['lapse-identity']).toBe(identity);
  });

  it('adds no Lapse-Identity without a live session', async () => {
    const req = await receive(['GET / HTTP/1.1', 'Host: app.example']);
    expect(upstreamRequestHeaders(req, facts(req))).not.toHaveProperty('lapse-identity');
  });
});

describe('upstreamRequestHeaders: the session cookie', () => {
  it('removes the session cookie and keeps every other cookie, in order', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Cookie: theme=dark; lapse_sid=SECRET-ID; lapse_sid2=keep; xlapse_sid=keep; next=lapse_sid=notit',
    ]);
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers.cookie).toBe(
      'theme=dark; lapse_sid2=keep; xlapse_sid=keep; next=lapse_sid=notit',
    );
    expect(JSON.stringify(headers)).not.toContain('SECRET-ID');
  });

  it('removes the session cookie from every one of several Cookie headers', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Cookie: a=1; lapse_sid=SECRET-ID',
      'Cookie: lapse_sid=SECRET-TWO; b=2',
    ]);
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers.cookie).toBe('a=1; b=2');
  });

  it('removes the Cookie header when the session cookie was its only cookie', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Cookie: lapse_sid=SECRET-ID',
    ]);
    expect(upstreamRequestHeaders(req, facts(req))).not.toHaveProperty('cookie');
  });

  it('removes a session cookie written with spaces around its name and =', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'Cookie: a=1;   lapse_sid =SECRET-ID ;b=2',
    ]);
    expect(upstreamRequestHeaders(req, facts(req)).cookie).toBe('a=1; b=2');
  });

  it('keeps a cookie whose name differs from the session cookie only in case', async () => {
    const req = await receive(['GET / HTTP/1.1', 'Host: app.example', 'Cookie: LAPSE_SID=x']);
    expect(upstreamRequestHeaders(req, facts(req)).cookie).toBe('LAPSE_SID=x');
  });

  it('leaves Cookie as it is when there is no session cookie name', async () => {
    const req = await receive(['GET / HTTP/1.1', 'Host: app.example', 'Cookie: lapse_sid=x;a=1']);
    const headers = upstreamRequestHeaders(req, facts(req, { sessionCookie: undefined }));
    expect(headers.cookie).toBe('lapse_sid=x;a=1');
  });
});

describe('upstreamRequestHeaders: X-Forwarded-*', () => {
  it('sets X-Forwarded-For to the client address when the client sent none', async () => {
    const req = await receive(['GET / HTTP/1.1', 'Host: app.example']);
    expect(upstreamRequestHeaders(req, facts(req))['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('appends the client address to the X-Forwarded-For headers a client sent, in order', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'Host: app.example',
      'X-Forwarded-For: 203.0.113.7',
      'X-Forwarded-For: 198.51.100.2, 10.0.0.1',
    ]);
    expect(upstreamRequestHeaders(req, facts(req))['x-forwarded-for']).toBe(
      '203.0.113.7, 198.51.100.2, 10.0.0.1, 127.0.0.1',
    );
  });

  it('appends to an X-Forwarded-For given as an array', () => {
    const req = requestWith({
      host: 'a',
      'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] as unknown as string,
    });
    const headers = upstreamRequestHeaders(req, facts(req, { clientAddress: '::1' }));
    expect(headers['x-forwarded-for']).toBe('1.1.1.1, 2.2.2.2, ::1');
  });

  it('passes X-Forwarded-For on as it came when the client address is unknown', () => {
    const req = requestWith({ host: 'a', 'x-forwarded-for': '203.0.113.7' });
    const headers = upstreamRequestHeaders(req, facts(req, { clientAddress: undefined }));
    expect(headers['x-forwarded-for']).toBe('203.0.113.7');
  });

  it('overwrites X-Forwarded-Proto and X-Forwarded-Host a client sent', async () => {
    const req = await receive([
      'GET / HTTP/1.1',
      'X-Forwarded-Proto: https',
      'Host: App.Example:8080',
      'X-Forwarded-Host: evil.example',
    ]);
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe('App.Example:8080');
    expect(headers.host).toBe('App.Example:8080');
    expect(
      upstreamRequestHeaders(req, facts(req, { protocol: 'https' }))['x-forwarded-proto'],
    ).toBe('https');
  });

  it('drops a client X-Forwarded-Host and sets none when the request has no Host', () => {
    const req = requestWith({ 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
    const headers = upstreamRequestHeaders(req, facts(req));
    expect(headers).not.toHaveProperty('x-forwarded-host');
    expect(headers['x-forwarded-proto']).toBe('http');
  });
});

describe('clientResponseHeaders', () => {
  it('strips hop-by-hop and Lapse-* headers of a real upstream response and keeps Set-Cookie as an array', async () => {
    const upstream = createNetServer((socket) => {
      socket.once('data', () => {
        socket.end(
          [
            'HTTP/1.1 200 OK',
            'Content-Type: text/plain',
            'Connection: keep-alive, X-Upstream-Hop',
            'Keep-Alive: timeout=5',
            'X-Upstream-Hop: 1',
            'Proxy-Authenticate: Basic realm="x"',
            'Trailer: X-Checksum',
            'Lapse-Begin: subject="u1"',
            'LAPSE-END: ?1',
            'Set-Cookie: a=1; Path=/',
            'Set-Cookie: b=2; HttpOnly',
            'Cache-Control: no-cache',
            'Transfer-Encoding: chunked',
            '',
            '2',
            'ok',
            '0',
            '',
            '',
          ].join('\r\n'),
        );
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const agent = new Agent();
    try {
      const response = await agent.request({
        origin: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
        path: '/',
        method: 'GET',
      });
      expect(await response.body.text()).toBe('ok');
      expect(clientResponseHeaders(response.headers)).toStrictEqual({
        'content-type': 'text/plain',
        'set-cookie': ['a=1; Path=/', 'b=2; HttpOnly'],
        'cache-control': 'no-cache',
      });
    } finally {
      await agent.close();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('strips Upgrade, TE, Expect and HTTP2-Settings and drops undefined values', () => {
    expect(
      clientResponseHeaders({
        upgrade: 'h2c',
        te: 'trailers',
        expect: '100-continue',
        'http2-settings': 'x',
        'proxy-connection': 'close',
        'content-length': '2',
        'x-absent': undefined,
        'lapse-identity': 'subject="u1"',
        etag: '"v1"',
      }),
    ).toStrictEqual({ 'content-length': '2', etag: '"v1"' });
  });

  it('keeps a header that only contains lapse- further in its name', () => {
    expect(clientResponseHeaders({ 'x-lapse-version': '1' })).toStrictEqual({
      'x-lapse-version': '1',
    });
  });
});

describe('cookieHeaderWithout', () => {
  it.each([
    ['a=1; lapse_sid=x; b=2', 'a=1; b=2'],
    ['lapse_sid=x', undefined],
    ['lapse_sid=x; lapse_sid=y', undefined],
    ['lapse_sid=', undefined],
    ['a=1;lapse_sid=x;b=2', 'a=1; b=2'],
    ['a=1; lapse_sid2=x', 'a=1; lapse_sid2=x'],
    ['a=lapse_sid=x', 'a=lapse_sid=x'],
    ['a=1', 'a=1'],
    ['', ''],
    ['lapse_sid', 'lapse_sid'],
  ])('turns %j into %j', (header, expected) => {
    expect(cookieHeaderWithout(header, 'lapse_sid')).toBe(expected);
  });

  /** Cookie names, many close to the one removed, to catch prefix and suffix mix-ups. */
  const cookieName = fc.oneof(
    fc.constantFrom('lapse_sid', 'lapse_sid2', 'xlapse_sid', 'lapse_si', 'LAPSE_SID', 'lapse'),
    fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}$/),
  );
  /** RFC 6265 cookie-octets, which include `=`, so values such as `lapse_sid=x` occur. */
  const cookieValue = fc.oneof(
    fc.constantFrom('', 'lapse_sid=x', '=', 'lapse_sid'),
    fc.stringMatching(/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{0,12}$/),
  );
  const pair = fc.tuple(cookieName, cookieValue).map(([name, value]) => ({ name, value }));
  const separator = fc.constantFrom('; ', ';', ';  ', ' ; ', ';\t');

  it('never leaves the removed cookie as a pair and keeps every other pair, in order', () => {
    fc.assert(
      fc.property(fc.array(pair, { minLength: 1, maxLength: 8 }), separator, (pairs, sep) => {
        const header = pairs.map(({ name, value }) => `${name}=${value}`).join(sep);
        const result = cookieHeaderWithout(header, 'lapse_sid');
        const kept = pairs
          .filter(({ name }) => name !== 'lapse_sid')
          .map(({ name, value }) => `${name}=${value}`);
        if (kept.length === 0) {
          expect(result).toBeUndefined();
          return;
        }
        const resultPairs = (result ?? '')
          .split(';')
          .map((text) => text.trim())
          .filter((text) => text.length > 0);
        expect(resultPairs).toStrictEqual(kept);
        expect(resultPairs.some((text) => text.split('=')[0]?.trim() === 'lapse_sid')).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});
