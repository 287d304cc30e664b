import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtCarrier } from '../../http/carriers/jwt-carrier.js';
import type { HttpRequestLike } from '../../http/http-request.js';
import { JWT_ALGORITHMS } from './config-schema.js';
import { jwtCarrierOptions } from './jwt-carrier-options.js';
import { loadGatewayConfig } from './load-gateway-config.js';
import type { JwtIdentitySection } from './types.js';

const SECRET = 'a-jwt-hmac-secret-of-at-least-32-characters';

function jwtIdentity(identity: string, env: Record<string, string>): JwtIdentitySection {
  const text = [
    'version: 1',
    'policy:',
    '  defaults: { idle: 15m, absolute: 8h }',
    `identity: ${identity}`,
    'gateway: { routes: [{ path: /, upstream: "http://127.0.0.1:3000" }] }',
  ].join('\n');
  const config = loadGatewayConfig(text, 'lapse.yaml', env);
  if (config.identity.mode !== 'jwt') throw new Error('expected mode: jwt');
  return config.identity;
}

function bearer(token: string): HttpRequestLike {
  return {
    method: 'GET',
    url: '/',
    header: (name: string) => (name === 'authorization' ? `Bearer ${token}` : undefined),
  };
}

describe('jwtCarrierOptions', () => {
  it('maps a secret identity to JwtCarrier options that verify its tokens', async () => {
    const identity = jwtIdentity(
      '{ mode: jwt, issuer: https://id, audience: app, secret: env:S, claims: { roles: groups } }',
      { S: SECRET },
    );
    const options = jwtCarrierOptions(identity);
    expect(options).toEqual({
      issuer: ['https://id'],
      audience: ['app'],
      algorithms: ['HS256'],
      secret: SECRET,
      claims: { roles: 'groups', userType: 'user_type' },
    });
    const token = await new SignJWT({ sid: 's1', groups: ['admin'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://id')
      .setAudience('app')
      .setSubject('u1')
      .setIssuedAt()
      .sign(new TextEncoder().encode(SECRET));
    const carried = await new JwtCarrier(options).read(bearer(token));
    expect(carried).toMatchObject({ kind: 'token', draft: { subject: 'u1', roles: ['admin'] } });
  });

  it('accepts exactly the algorithms JwtCarrier accepts', () => {
    for (const alg of JWT_ALGORITHMS) {
      const options = alg.startsWith('HS')
        ? { secret: SECRET }
        : { jwksUrl: 'https://id.example/jwks' };
      expect(
        () => new JwtCarrier({ issuer: 'i', audience: 'a', algorithms: [alg], ...options }),
      ).not.toThrow();
    }
    expect(
      () => new JwtCarrier({ issuer: 'i', audience: 'a', algorithms: ['none'], secret: SECRET }),
    ).toThrow();
  });

  it('maps public-key and JWKS identities to options JwtCarrier accepts', () => {
    const publicKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const withKey = jwtCarrierOptions(
      jwtIdentity(
        '{ mode: jwt, issuer: i, audience: a, algorithms: ES256, publicKey: env:K, cookie: id }',
        {
          K: publicKey,
        },
      ),
    );
    expect(withKey).toMatchObject({ publicKey, algorithms: ['ES256'], cookie: 'id' });
    expect(() => new JwtCarrier(withKey)).not.toThrow();
    const withJwks = jwtCarrierOptions(
      jwtIdentity('{ mode: jwt, issuer: i, audience: a, jwksUrl: "https://id.example/jwks" }', {}),
    );
    expect(withJwks).toMatchObject({ jwksUrl: 'https://id.example/jwks', algorithms: ['RS256'] });
    expect(() => new JwtCarrier(withJwks)).not.toThrow();
  });
});
