/**
 * AdminClient over real sockets, against small HTTP servers that answer the
 * way a broken, slow or foreign listener would (the real admin API is
 * exercised end to end in commands/sessions.test.ts).
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, OptionError } from '../errors.js';
import { AdminClient, AdminRequestError } from './admin-client.js';

const TOKEN = 'a-test-token-of-32-characters-xx';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
}

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function listening(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

/** An HTTP server that records each request and answers with `answer`. */
async function answering(
  answer: (req: IncomingMessage, res: ServerResponse, count: number) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createHttpServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
    });
    answer(req, res, seen.length);
  });
  return { url: await listening(server), seen };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function failure(promise: Promise<unknown>): Promise<AdminRequestError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(AdminRequestError);
  return error as AdminRequestError;
}

describe('AdminClient', () => {
  it('sends the bearer token, the query and the encoded path under a base path prefix', async () => {
    const { url, seen } = await answering((req, res) =>
      req.method === 'GET'
        ? json(res, 200, { now: 1, sessions: [], next: null })
        : json(res, 200, { revoked: 3 }),
    );
    const client = new AdminClient({ url: `${url}/admin/`, token: TOKEN });
    await client.listSessions({ subject: 'a b', state: 'any', limit: 5, role: undefined });
    expect(await client.revokeSubject('x/y')).toBe(3);
    expect(seen).toEqual([
      {
        method: 'GET',
        url: '/admin/api/sessions?subject=a+b&state=any&limit=5',
        authorization: `Bearer ${TOKEN}`,
      },
      {
        method: 'DELETE',
        url: '/admin/api/subjects/x%2Fy/sessions',
        authorization: `Bearer ${TOKEN}`,
      },
    ]);
  });

  it('sends no Authorization header without a token', async () => {
    const { url, seen } = await answering((_req, res) =>
      json(res, 200, { now: 1, sessions: [], next: null }),
    );
    await new AdminClient({ url }).listSessions();
    expect(seen[0]?.authorization).toBeUndefined();
  });

  it('carries the status and a code: 503 is LAPSE_STORE_UNAVAILABLE, 400 keeps the API’s message', async () => {
    const { url } = await answering((req, res) =>
      req.url?.includes('limit') === true
        ? json(res, 400, {
            error: 'bad_request',
            parameter: 'limit',
            message: 'invalid option limit: too big',
          })
        : json(res, 503, {
            error: 'store_unavailable',
            message: 'the session store cannot be reached',
          }),
    );
    const client = new AdminClient({ url, token: TOKEN });
    const unavailable = await failure(client.listSessions());
    expect(unavailable).toMatchObject({
      failure: 'store-unavailable',
      status: 503,
      code: ErrorCodes.STORE_UNAVAILABLE,
    });
    const bad = await failure(client.listSessions({ limit: 9999 }));
    expect(bad).toMatchObject({
      failure: 'bad-request',
      status: 400,
      code: ErrorCodes.ADMIN_REQUEST_FAILED,
      apiMessage: 'invalid option limit: too big',
    });
  });

  it('classifies a 401 without a JSON body (a proxy in front) by its status, without the token in the message', async () => {
    const { url } = await answering((_req, res) => {
      res.writeHead(401, { 'content-type': 'text/html' });
      res.end('<h1>401</h1>');
    });
    const error = await failure(new AdminClient({ url, token: TOKEN }).revokeSession('x'));
    expect(error).toMatchObject({ failure: 'unauthorized', status: 401 });
    expect(error.message).not.toContain(TOKEN);
  });

  it('does not follow a redirect (it would carry the token elsewhere)', async () => {
    const elsewhere = await answering((_req, res) =>
      json(res, 200, { now: 1, sessions: [], next: null }),
    );
    const { url } = await answering((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.url}/api/sessions` });
      res.end();
    });
    const error = await failure(new AdminClient({ url, token: TOKEN }).listSessions());
    expect(error).toMatchObject({ failure: 'unexpected', status: 302 });
    expect(elsewhere.seen).toEqual([]);
  });

  it('refuses an answer that is not the API’s JSON', async () => {
    const { url } = await answering((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><p>some app</p>');
    });
    const error = await failure(new AdminClient({ url }).listSessions());
    expect(error.failure).toBe('unexpected');
    expect(error.message).toContain(url);
    const shaped = await answering((_req, res) => json(res, 200, { sessions: 'none' }));
    expect((await failure(new AdminClient({ url: shaped.url }).listSessions())).failure).toBe(
      'unexpected',
    );
  });

  it('follows next to the end with listAllSessions, and stops at a cursor the API repeats', async () => {
    const session = (id: string) => ({ id, subject: 's' });
    const { url } = await answering((req, res) => {
      const cursor = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor');
      if (cursor === null) return json(res, 200, { now: 1, sessions: [session('a')], next: 'c1' });
      if (cursor === 'c1') return json(res, 200, { now: 2, sessions: [session('b')], next: 'c2' });
      return json(res, 200, { now: 3, sessions: [session('c')], next: null });
    });
    const all = await new AdminClient({ url }).listAllSessions({ limit: 1 });
    expect(all).toEqual({
      now: 3,
      sessions: [session('a'), session('b'), session('c')],
      next: null,
    });

    const looping = await answering((_req, res) =>
      json(res, 200, { now: 1, sessions: [session('a')], next: 'same' }),
    );
    const error = await failure(new AdminClient({ url: looping.url }).listAllSessions());
    expect(error.failure).toBe('unexpected');
    expect(looping.seen).toHaveLength(2);
  });

  it('gives up after its timeout on a listener that never answers, naming the URL', async () => {
    const sockets: Socket[] = [];
    const url = await listening(createNetServer((socket) => sockets.push(socket)));
    const started = Date.now();
    const error = await failure(new AdminClient({ url, timeoutMs: 200 }).listSessions());
    expect(error.failure).toBe('timeout');
    expect(error.message).toContain(url);
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const socket of sockets) socket.destroy();
  });

  it('reports a refused connection as unreachable', async () => {
    const server = createNetServer();
    const url = await listening(server);
    servers.pop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await failure(new AdminClient({ url }).listSessions());
    expect(error).toMatchObject({ failure: 'unreachable', status: undefined });
    expect(error.message).toContain(`cannot reach the admin API at ${url}`);
  });

  it('checks its options once, at construction, never echoing the token', () => {
    const refused = (options: ConstructorParameters<typeof AdminClient>[0]) => {
      try {
        new AdminClient(options);
      } catch (error) {
        expect(error).toBeInstanceOf(OptionError);
        return error as OptionError;
      }
      throw new Error('accepted');
    };
    expect(refused({ url: 'localhost:7778' }).option).toBe('url');
    expect(refused({ url: 'ftp://127.0.0.1' }).option).toBe('url');
    expect(refused({ url: 'http://u:p@127.0.0.1' }).option).toBe('url');
    expect(refused({ url: 'http://127.0.0.1/?x=1' }).option).toBe('url');
    const badToken = refused({ url: 'http://127.0.0.1', token: `${TOKEN}\nX-Other: 1` });
    expect(badToken.option).toBe('token');
    expect(badToken.message).not.toContain(TOKEN);
    expect(refused({ url: 'http://127.0.0.1', timeoutMs: 0 }).option).toBe('timeoutMs');
    expect(new AdminClient({ url: 'http://127.0.0.1:7778/' }).url).toBe('http://127.0.0.1:7778');
  });
});
