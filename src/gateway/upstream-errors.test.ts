import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Agent, errors } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyUpstreamError, upstreamErrorResponse } from './upstream-errors.js';

const servers: Server[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

/** A raw TCP upstream on 127.0.0.1 that treats each connection with `onSocket`; its origin. */
async function rawUpstream(onSocket: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  };
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** What `agent.request` to `origin` fails with, reading the whole body. */
async function requestError(
  origin: string,
  options: ConstructorParameters<typeof Agent>[0] = {},
): Promise<unknown> {
  const agent = new Agent(options);
  agents.push(agent);
  try {
    const response = await agent.request({ origin, path: '/', method: 'GET' });
    await response.body.text();
  } catch (error) {
    return error;
  }
  throw new Error(`expected the request to ${origin} to fail`);
}

const body = (failure: Parameters<typeof upstreamErrorResponse>[0]) =>
  JSON.parse(upstreamErrorResponse(failure).body as string) as unknown;

describe('classifyUpstreamError: real undici failures', () => {
  it('calls a refused connection unreachable, answered 502', async () => {
    const error = await requestError(`http://127.0.0.1:${await closedPort()}`);
    expect((error as { code?: unknown }).code).toBe('ECONNREFUSED');
    const failure = classifyUpstreamError(error);
    expect(failure).toBe('upstream_unreachable');
    expect(upstreamErrorResponse(failure).status).toBe(502);
    expect(body(failure)).toStrictEqual({ error: 'bad_gateway', reason: 'upstream_unreachable' });
  });

  it('calls an upstream that never answers a timeout, answered 504', async () => {
    const origin = await rawUpstream(() => undefined);
    const error = await requestError(origin, { headersTimeout: 100 });
    expect(error).toBeInstanceOf(errors.HeadersTimeoutError);
    const failure = classifyUpstreamError(error);
    expect(failure).toBe('upstream_timeout');
    expect(upstreamErrorResponse(failure).status).toBe(504);
    expect(body(failure)).toStrictEqual({ error: 'gateway_timeout', reason: 'upstream_timeout' });
  });

  it('calls a body that stalls a timeout', async () => {
    const origin = await rawUpstream((socket) =>
      socket.once('data', () => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab')),
    );
    const error = await requestError(origin, { bodyTimeout: 100 });
    expect(error).toBeInstanceOf(errors.BodyTimeoutError);
    expect(classifyUpstreamError(error)).toBe('upstream_timeout');
  });

  it('calls an upstream that closes the connection without an answer unreachable', async () => {
    const origin = await rawUpstream((socket) => socket.once('data', () => socket.end()));
    const error = await requestError(origin);
    expect(error).toBeInstanceOf(errors.SocketError);
    expect(classifyUpstreamError(error)).toBe('upstream_unreachable');
  });

  it('calls an upstream that resets the connection unreachable', async () => {
    const origin = await rawUpstream((socket) =>
      socket.once('data', () => socket.resetAndDestroy()),
    );
    const error = await requestError(origin);
    expect(classifyUpstreamError(error)).toBe('upstream_unreachable');
  });

  it('calls an answer that is not HTTP a failure, answered 502', async () => {
    const origin = await rawUpstream((socket) =>
      socket.once('data', () => socket.end('NOT HTTP AT ALL\r\n\r\n')),
    );
    const error = await requestError(origin);
    expect(error).toBeInstanceOf(errors.HTTPParserError);
    const failure = classifyUpstreamError(error);
    expect(failure).toBe('upstream_failed');
    expect(upstreamErrorResponse(failure).status).toBe(502);
    expect(body(failure)).toStrictEqual({ error: 'bad_gateway', reason: 'upstream_failed' });
  });

  it('calls an answer whose body is cut short a failure of the connection', async () => {
    const origin = await rawUpstream((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab')),
    );
    const error = await requestError(origin);
    expect(classifyUpstreamError(error)).toBe('upstream_unreachable');
  });

  it('calls a request the gateway aborted a failure, not a timeout', async () => {
    const origin = await rawUpstream(() => undefined);
    const agent = new Agent();
    agents.push(agent);
    const aborted = new AbortController();
    const pending = agent.request({ origin, path: '/', method: 'GET', signal: aborted.signal });
    aborted.abort();
    const error = await pending.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(classifyUpstreamError(error)).toBe('upstream_failed');
  });

  it('reads the code of the cause that undici fetch wraps its errors in', async () => {
    const error = await fetch(`http://127.0.0.1:${await closedPort()}/`).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(classifyUpstreamError(error)).toBe('upstream_unreachable');
  });
});

describe('classifyUpstreamError: codes', () => {
  it('calls a connect timeout of undici a timeout', () => {
    expect(classifyUpstreamError(new errors.ConnectTimeoutError())).toBe('upstream_timeout');
  });

  it.each([
    'UND_ERR_CONNECT_TIMEOUT',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'ETIMEDOUT',
  ])('calls %s a timeout', (code) => {
    expect(classifyUpstreamError(Object.assign(new Error('x'), { code }))).toBe('upstream_timeout');
  });

  it.each([
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ECONNRESET',
    'EPIPE',
    'UND_ERR_SOCKET',
    'UND_ERR_CLOSED',
  ])('calls %s unreachable', (code) => {
    expect(classifyUpstreamError(Object.assign(new Error('x'), { code }))).toBe(
      'upstream_unreachable',
    );
  });

  it.each([
    ['an error without a code', new Error('x')],
    ['an unknown code', Object.assign(new Error('x'), { code: 'UND_ERR_INVALID_ARG' })],
    ['a numeric code', Object.assign(new Error('x'), { code: 20 })],
    ['undefined', undefined],
    ['null', null],
    ['a string', 'ECONNREFUSED'],
  ])('calls %s a failure', (_what, error) => {
    expect(classifyUpstreamError(error)).toBe('upstream_failed');
  });

  it('prefers the code of the cause of an UND_ERR_SOCKET error', () => {
    const timedOut = Object.assign(new Error('read ETIMEDOUT'), { code: 'ETIMEDOUT' });
    const socketError = Object.assign(new errors.SocketError('other side closed'), {
      cause: timedOut,
    });
    expect(classifyUpstreamError(socketError)).toBe('upstream_timeout');
  });

  it('prefers the code of an error over that of its cause', () => {
    const error = Object.assign(new Error('x'), {
      code: 'UND_ERR_HEADERS_TIMEOUT',
      cause: Object.assign(new Error('y'), { code: 'ECONNREFUSED' }),
    });
    expect(classifyUpstreamError(error)).toBe('upstream_timeout');
  });

  it('follows a chain of causes to the first code', () => {
    const error = new Error('outer', {
      cause: new Error('middle', {
        cause: Object.assign(new Error('inner'), { code: 'ENOTFOUND' }),
      }),
    });
    expect(classifyUpstreamError(error)).toBe('upstream_unreachable');
  });
});

describe('upstreamErrorResponse', () => {
  it('answers JSON that no cache keeps', () => {
    for (const failure of [
      'upstream_unreachable',
      'upstream_timeout',
      'upstream_failed',
    ] as const) {
      const response = upstreamErrorResponse(failure);
      expect(response.headers).toContainEqual(['Content-Type', 'application/json; charset=utf-8']);
      expect(response.headers).toContainEqual(['Cache-Control', 'no-store']);
    }
  });
});
