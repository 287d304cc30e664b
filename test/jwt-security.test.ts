/**
 * Sessions carried by JWTs, attacked: every adapter must answer forged,
 * mis-addressed, expired and malformed tokens with a clear 401, never a 500,
 * and reject a valid token whose session has ended with the original reason.
 */
import { generateKeyPairSync } from 'node:crypto';
import express4 from 'express4';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLapse, type Lapse } from '../src/http/lapse.js';
import type { Policy } from '../src/policy/types.js';
import { ManualClock } from '../src/session/clock.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { type RawResponse, rawRequest } from './helpers/http-client.js';

interface Started {
  url: string;
  close(): Promise<void>;
}

const ADAPTERS = ['express', 'express4', 'fastify', 'node', 'hono'];
const SECOND = 1_000;
const START = Date.UTC(2026, 0, 1, 9);
const ISSUER = 'https://id.example';
const AUDIENCE = 'lapse-tests';

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 60 * SECOND, absoluteMs: 300 * SECOND, warnMs: 10 * SECOND },
  ceilings: {},
  rules: [{ name: 'admins', match: { roles: ['admin'] }, idleMs: 30 * SECOND }],
  passive: [],
};

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();

/** A token as an identity provider would issue it; `iat` on the test clock's time line. */
function token(claims: Record<string, unknown> = {}, alg = 'RS256', key: unknown = privateKey) {
  const jwt = new SignJWT({
    sid: `sid-${Math.random()}`,
    roles: ['admin'],
    iss: ISSUER,
    aud: AUDIENCE,
    ...claims,
  })
    .setProtectedHeader({ alg })
    .setSubject('u1')
    .setIssuedAt(START / 1_000)
    .setExpirationTime(Math.floor(Date.now() / 1_000) + 3_600);
  return jwt.sign(key as Parameters<SignJWT['sign']>[0]);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

const logged: string[] = [];

beforeAll(() => {
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logged.push(args.map(String).join(' '));
    });
  }
});

afterAll(() => {
  vi.restoreAllMocks();
});

for (const example of ADAPTERS) {
  describe(`JWT carrier: ${example}`, () => {
    let clock: ManualClock;
    let store: MemoryStore;
    let server: Started;
    const issued: string[] = [];

    beforeEach(async () => {
      clock = new ManualClock(START);
      store = new MemoryStore({ clock, sweepIntervalMs: 0 });
      const lapse = createLapse({
        policy: POLICY,
        store,
        jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'], publicKey: PUBLIC_PEM },
      });
      const folder = example === 'express4' ? 'express' : example;
      const module = (await import(`../examples/${folder}/app.mjs`)) as {
        start(lapse: Lapse, port?: number, framework?: unknown): Promise<Started>;
      };
      server = await (example === 'express4'
        ? module.start(lapse, 0, express4)
        : module.start(lapse, 0));
    });

    afterEach(async () => {
      await server.close();
      await store.close();
      // Nothing lapse or the app printed may contain a token.
      for (const line of logged) for (const jwt of issued) expect(line).not.toContain(jwt);
    });

    async function me(authorization: string): Promise<RawResponse> {
      return rawRequest(server.url, 'GET', '/api/me', { authorization });
    }

    async function bearer(jwt: string | Promise<string>): Promise<RawResponse> {
      const value = await jwt;
      issued.push(value);
      return me(`Bearer ${value}`);
    }

    function expectInvalid(response: RawResponse): void {
      expect(response.status).toBe(401);
      expect(response.json()).toEqual({ error: 'session_expired', reason: 'invalid' });
    }

    it('accepts a valid token and reads subject and roles from it', async () => {
      const response = await bearer(token());
      expect(response.status).toBe(200);
      expect(response.json()).toMatchObject({ subject: 'u1', roles: ['admin'], userType: 'human' });
      expect(response.headers['lapse-session']).toBe(
        'state=active, idle=30, absolute=300, warn=10',
      );
    });

    it('rejects alg: none', async () => {
      const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({
        sub: 'u1',
        sid: 's',
        iss: ISSUER,
        aud: AUDIENCE,
        iat: START / 1_000,
      })}.`;
      expectInvalid(await bearer(unsigned));
    });

    it('rejects an HS256 token signed with the RSA public key (algorithm confusion)', async () => {
      expectInvalid(await bearer(token({}, 'HS256', new TextEncoder().encode(PUBLIC_PEM))));
    });

    it('rejects a token signed by another key', async () => {
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      expectInvalid(await bearer(token({}, 'RS256', other)));
    });

    it('rejects the wrong issuer and the wrong audience', async () => {
      expectInvalid(await bearer(token({ iss: 'https://evil.example' })));
      expectInvalid(await bearer(token({ aud: 'someone-else' })));
    });

    it('rejects an expired token', async () => {
      const expired = await new SignJWT({ sid: 'old' })
        .setProtectedHeader({ alg: 'RS256' })
        .setSubject('u1')
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(START / 1_000)
        .setExpirationTime(Math.floor(Date.now() / 1_000) - 60)
        .sign(privateKey);
      expectInvalid(await bearer(expired));
    });

    it('rejects a token that names no session (neither sid nor jti)', async () => {
      expectInvalid(await bearer(token({ sid: undefined })));
    });

    it('keys the session by jti when there is no sid', async () => {
      const jwt = await token({ sid: undefined, jti: 'j-1' });
      expect((await bearer(jwt)).status).toBe(200);
      clock.advance(31 * SECOND);
      expect((await bearer(jwt)).json()).toEqual({ error: 'session_expired', reason: 'idle' });
    });

    it('rejects a token replayed after its session expired, with the original reason', async () => {
      const jwt = await token();
      expect((await bearer(jwt)).status).toBe(200);
      clock.advance(30 * SECOND);
      const replay = await bearer(jwt);
      expect(replay.status).toBe(401);
      expect(replay.json()).toEqual({ error: 'session_expired', reason: 'idle' });
      clock.advance(600 * SECOND);
      expect((await bearer(jwt)).json()).toEqual({ error: 'session_expired', reason: 'idle' });
    });

    it('ends a token session at its absolute deadline, counted from the token iat', async () => {
      const jwt = await token();
      for (let t = 25; t < 300; t += 25) {
        clock.set(START + t * SECOND);
        expect((await bearer(jwt)).status).toBe(200);
      }
      clock.set(START + 300 * SECOND);
      expect((await bearer(jwt)).json()).toEqual({ error: 'session_expired', reason: 'absolute' });
    });

    it.each([
      ['a malformed token', 'Bearer not-a-jwt'],
      ['three garbage parts', 'Bearer a.b.c'],
      ['a non-Bearer scheme', 'Basic dTE6cGFzcw=='],
      ['an oversized token', `Bearer ${'a'.repeat(9_000)}`],
    ])('rejects %s with 401, never a 500', async (_label, authorization) => {
      expectInvalid(await me(authorization));
    });

    it('treats a request without a token as missing', async () => {
      const response = await rawRequest(server.url, 'GET', '/api/me');
      expect(response.status).toBe(401);
      expect(response.json()).toEqual({ error: 'session_expired', reason: 'missing' });
    });
  });
}

describe('JWT carrier options', () => {
  it.each([
    [{ algorithms: [] }, 'jwt.algorithms'],
    [{ algorithms: ['none'] }, 'jwt.algorithms'],
    [{ algorithms: ['HS256'], publicKey: PUBLIC_PEM }, 'jwt.algorithms'],
    [{ algorithms: ['RS256'], secret: 'x'.repeat(40), publicKey: undefined }, 'jwt.algorithms'],
    [{ algorithms: ['HS256'], secret: 'short', publicKey: undefined }, 'jwt.secret'],
    [{ algorithms: ['RS256'], publicKey: 'not a pem' }, 'jwt.publicKey'],
  ])('refuses %j at construction', (override, option) => {
    expect(() =>
      createLapse({
        policy: POLICY,
        jwt: {
          issuer: ISSUER,
          audience: AUDIENCE,
          publicKey: PUBLIC_PEM,
          ...override,
        } as never,
      }),
    ).toThrow(expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option }));
  });
});

describe('JWT keys from a secret and from a JWKS URL', () => {
  async function serve(lapse: Lapse): Promise<Started> {
    const file = '../examples/node/app.mjs';
    const module = (await import(file)) as {
      start(lapse: Lapse, port?: number): Promise<Started>;
    };
    return module.start(lapse, 0);
  }

  it('verifies HS256 tokens with a shared secret', async () => {
    const secret = 'a-shared-secret-of-at-least-32-characters';
    const lapse = createLapse({
      policy: POLICY,
      store: new MemoryStore({ clock: new ManualClock(START), sweepIntervalMs: 0 }),
      jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'], secret },
    });
    const server = await serve(lapse);
    try {
      const good = await token({}, 'HS256', new TextEncoder().encode(secret));
      expect(
        (await rawRequest(server.url, 'GET', '/api/me', { authorization: `Bearer ${good}` }))
          .status,
      ).toBe(200);
      const forged = await token(
        {},
        'HS256',
        new TextEncoder().encode('another-secret-of-at-least-32-chars!!'),
      );
      expect(
        (await rawRequest(server.url, 'GET', '/api/me', { authorization: `Bearer ${forged}` }))
          .status,
      ).toBe(401);
    } finally {
      await server.close();
    }
  });

  it('fetches keys from a JWKS URL and picks up a rotated key', async () => {
    const { createServer } = await import('node:http');
    const { exportJWK } = await import('jose');
    const first = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const second = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const published = [
      { ...(await exportJWK(first.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' },
    ];
    let fetches = 0;
    const jwks = createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as { port: number }).port;
    const lapse = createLapse({
      policy: POLICY,
      store: new MemoryStore({ sweepIntervalMs: 0 }),
      jwt: {
        issuer: ISSUER,
        audience: AUDIENCE,
        algorithms: ['RS256'],
        jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
        jwksCooldownMs: 0,
      },
    });
    const server = await serve(lapse);
    const now = Math.floor(Date.now() / 1_000);
    const signed = (key: unknown, kid: string) =>
      new SignJWT({ sid: `s-${kid}`, iss: ISSUER, aud: AUDIENCE })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setSubject('u1')
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(key as Parameters<SignJWT['sign']>[0]);
    try {
      const call = async (jwt: string) =>
        (await rawRequest(server.url, 'GET', '/api/me', { authorization: `Bearer ${jwt}` })).status;
      expect(await call(await signed(first.privateKey, 'k1'))).toBe(200);
      expect(await call(await signed(first.privateKey, 'k1'))).toBe(200);
      expect(fetches).toBe(1); // cached
      // The issuer rotates: a token with a kid not seen yet makes lapse refetch.
      published.push({
        ...(await exportJWK(second.publicKey)),
        kid: 'k2',
        alg: 'RS256',
        use: 'sig',
      });
      expect(await call(await signed(second.privateKey, 'k2'))).toBe(200);
      expect(fetches).toBe(2);
      // A kid nobody publishes is refused, not a crash.
      expect(await call(await signed(second.privateKey, 'k3'))).toBe(401);
    } finally {
      await server.close();
      await new Promise((resolve) => jwks.close(resolve));
    }
  });
});
