/**
 * The gateway in `identity.mode: jwt`: sessions carried by tokens, verified
 * with jose; forged tokens get 401 and never reach the upstream; an app's
 * Lapse-Begin is ignored.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIdentityHeader, parseIdentityHeader } from '../src/gateway/identity-header.js';
import {
  gatewayYaml,
  type RunningGateway,
  startGateway,
  startUpstream,
  type Upstream,
} from './helpers/gateway-harness.js';
import { rawRequest } from './helpers/http-client.js';

const SECRET = 'a-test-hmac-secret-that-is-long-enough-0123456789';
const ISSUER = 'https://id.example';
const AUDIENCE = 'gateway-tests';

function token(claims: Record<string, unknown> = {}, secret = SECRET): Promise<string> {
  return new SignJWT({
    sid: `sid-${Math.random()}`,
    roles: ['admin'],
    iss: ISSUER,
    aud: AUDIENCE,
    ...claims,
  })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('u1')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

function unsigned(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

let upstream: Upstream;
let gateway: RunningGateway;

beforeAll(async () => {
  upstream = await startUpstream((req, res) => {
    res.setHeader('Lapse-Begin', formatIdentityHeader({ subject: 'intruder' }));
    res.end(JSON.stringify({ identity: req.headers['lapse-identity'] ?? null }));
  });
  gateway = await startGateway(
    gatewayYaml(upstream.url, {
      identity: `identity: { mode: jwt, issuer: "${ISSUER}", audience: "${AUDIENCE}", secret: "${SECRET}" }`,
    }),
  );
});

afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

describe('the gateway with JWT identity', () => {
  it("lets a valid token through, tells the app who it is, and ignores the app's Lapse-Begin", async () => {
    const res = await rawRequest(gateway.url, 'GET', '/x', bearer(await token()));
    expect(res.status).toBe(200);
    const { identity } = res.json() as { identity: string };
    expect(parseIdentityHeader(identity)).toMatchObject({ subject: 'u1', roles: ['admin'] });
    expect(res.headers['lapse-begin']).toBeUndefined();
    expect(res.cookies).toEqual([]);
    expect(res.headers['lapse-session']).toMatch(/^state=active/);
  });

  it.each([
    ['no token', async () => ({}), 'missing'],
    [
      'a token signed with another secret',
      async () => bearer(await token({}, `${SECRET}-other`)),
      'invalid',
    ],
    [
      'alg: none',
      async () => bearer(unsigned({ sid: 's1', sub: 'u1', iss: ISSUER, aud: AUDIENCE })),
      'invalid',
    ],
    ['another audience', async () => bearer(await token({ aud: 'someone-else' })), 'invalid'],
    ['a token without sid or jti', async () => bearer(await token({ sid: undefined })), 'invalid'],
    ['garbage', async () => bearer('not.a.token'), 'invalid'],
  ])('rejects %s with 401 and forwards nothing', async (_name, headers, reason) => {
    const before = upstream.seen.length;
    const res = await rawRequest(gateway.url, 'GET', '/x', await headers());
    expect(res.status).toBe(401);
    expect(res.json()).toEqual({ error: 'session_expired', reason });
    expect(upstream.seen.length).toBe(before);
  });

  it('rejects a still-valid token once its session was signed out', async () => {
    const jwt = await token();
    expect((await rawRequest(gateway.url, 'GET', '/x', bearer(jwt))).status).toBe(200);
    const out = await rawRequest(gateway.url, 'POST', '/_lapse/logout', {
      ...bearer(jwt),
      'x-lapse': '1',
      'sec-fetch-site': 'same-origin',
    });
    expect(out.status).toBe(200);
    const after = await rawRequest(gateway.url, 'GET', '/x', bearer(jwt));
    expect(after.json()).toEqual({ error: 'session_expired', reason: 'revoked' });
  });
});
