import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  createRemoteJWKSet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { OptionError } from '../../errors.js';
import { findCookie } from '../cookies.js';
import type { HttpRequestLike } from '../http-request.js';
import type { CarriedSession, SessionCarrier } from './carrier.js';

/** How lapse verifies JWTs and reads a session from them. */
export interface JwtCarrierOptions {
  /** Accepted `iss` values. */
  readonly issuer: string | readonly string[];
  /** Accepted `aud` values. */
  readonly audience: string | readonly string[];
  /** The algorithms accepted, e.g. `['RS256']`: an allowlist, required (`none` is never accepted). */
  readonly algorithms: readonly string[];
  /** HMAC secret (HS256/384/512). */
  readonly secret?: string;
  /** PEM public key (SPKI) for RS/PS/ES/EdDSA. */
  readonly publicKey?: string | KeyObject;
  /** A JWKS URL; keys are cached and refetched when an unknown `kid` appears (rotation). */
  readonly jwksUrl?: string;
  /** How long fetched JWKS keys are trusted, ms. Default 10 minutes. */
  readonly jwksCacheMs?: number;
  /** The least time between two JWKS fetches, ms (bounds refetch storms from unknown kids). Default 30 s. */
  readonly jwksCooldownMs?: number;
  /** Read the token from this cookie instead of `Authorization: Bearer`. */
  readonly cookie?: string;
  /** Claim names for roles (default `roles`) and user type (default `user_type`). */
  readonly claims?: { readonly roles?: string; readonly userType?: string };
  /** Leeway for `exp`/`nbf`/`iat`, seconds. Default 0. */
  readonly clockToleranceSeconds?: number;
}

/** Longest token looked at (a JWT is a few hundred bytes to a few KB). */
const MAX_TOKEN_LENGTH = 8_192;

/** The signing algorithms lapse accepts for JWTs (`none` never is). */
export const JWT_ALGORITHMS: ReadonlySet<string> = new Set([
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

function list(value: string | readonly string[]): string[] {
  return typeof value === 'string' ? [value] : [...value];
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((item) => item.length > 0);
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return [];
}

function describeFailure(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `the token's ${error.claim} claim is not accepted`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm that is not allowed';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'the token signature does not verify';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key matches the token';
  if (error instanceof joseErrors.JOSEError) return `the token is not valid (${error.code})`;
  return 'the token is not valid';
}

/**
 * JWTs as the session carrier, verified with `jose`. A verified token names
 * its session by `sid`, else `jti` (a token with neither is rejected); the
 * session's authentication time is `auth_time`, else `iat`.
 */
export class JwtCarrier implements SessionCarrier {
  readonly #options: JwtCarrierOptions;
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly #rolesClaim: string;
  readonly #userTypeClaim: string;

  constructor(options: JwtCarrierOptions) {
    if (!Array.isArray(options.algorithms) || options.algorithms.length === 0) {
      throw new OptionError('jwt.algorithms', 'list the accepted algorithms, e.g. ["RS256"]');
    }
    for (const alg of options.algorithms) {
      if (!JWT_ALGORITHMS.has(alg)) {
        throw new OptionError(
          'jwt.algorithms',
          `${JSON.stringify(alg)} is not a signing algorithm lapse accepts`,
        );
      }
    }
    if (list(options.issuer).length === 0)
      throw new OptionError('jwt.issuer', 'name the accepted issuer');
    if (list(options.audience).length === 0)
      throw new OptionError('jwt.audience', 'name the accepted audience');
    const sources = [options.secret, options.publicKey, options.jwksUrl].filter(
      (s) => s !== undefined,
    );
    if (sources.length !== 1) {
      throw new OptionError('jwt', 'give exactly one of secret, publicKey or jwksUrl');
    }
    const hmac = options.algorithms.filter((alg) => alg.startsWith('HS'));
    if (options.secret !== undefined) {
      if (hmac.length !== options.algorithms.length) {
        throw new OptionError('jwt.algorithms', 'a secret verifies only HS256/HS384/HS512');
      }
      if (options.secret.length < 32) {
        throw new OptionError('jwt.secret', 'use a secret of at least 32 characters');
      }
      this.#key = new TextEncoder().encode(options.secret);
    } else {
      if (hmac.length > 0) {
        throw new OptionError(
          'jwt.algorithms',
          'HS* algorithms need a secret; with a public key or JWKS allow only asymmetric ones',
        );
      }
      if (options.jwksUrl !== undefined) {
        let url: URL;
        try {
          url = new URL(options.jwksUrl);
        } catch {
          throw new OptionError('jwt.jwksUrl', 'give an absolute https:// URL');
        }
        if (
          url.protocol !== 'https:' &&
          url.hostname !== '127.0.0.1' &&
          url.hostname !== 'localhost'
        ) {
          throw new OptionError(
            'jwt.jwksUrl',
            'fetch keys over https:// (plain http only on localhost)',
          );
        }
        this.#key = createRemoteJWKSet(url, {
          cacheMaxAge: options.jwksCacheMs ?? 10 * 60_000,
          cooldownDuration: options.jwksCooldownMs ?? 30_000,
        });
      } else {
        try {
          this.#key =
            typeof options.publicKey === 'string'
              ? createPublicKey(options.publicKey)
              : (options.publicKey as KeyObject);
        } catch (error) {
          throw new OptionError(
            'jwt.publicKey',
            `not a PEM public key (${(error as Error).message})`,
          );
        }
      }
    }
    this.#options = options;
    this.#rolesClaim = options.claims?.roles ?? 'roles';
    this.#userTypeClaim = options.claims?.userType ?? 'user_type';
  }

  #token(request: HttpRequestLike): string | { malformed: string } | undefined {
    if (this.#options.cookie !== undefined) {
      const found = findCookie(request.header('cookie'), this.#options.cookie);
      if (found.kind === 'duplicate')
        return { malformed: `the ${this.#options.cookie} cookie was sent more than once` };
      return found.kind === 'present' && found.value.length > 0 ? found.value : undefined;
    }
    const authorization = request.header('authorization');
    if (authorization === undefined) return undefined;
    const match = /^Bearer +([^\s]+) *$/i.exec(authorization);
    if (match === null) return { malformed: 'the Authorization header is not "Bearer <token>"' };
    return match[1];
  }

  async read(request: HttpRequestLike): Promise<CarriedSession> {
    const token = this.#token(request);
    if (token === undefined) return { kind: 'none' };
    if (typeof token !== 'string') return { kind: 'malformed', detail: token.malformed };
    if (token.length > MAX_TOKEN_LENGTH)
      return { kind: 'malformed', detail: 'the token is too long' };
    let payload: JWTPayload;
    try {
      const verified = await jwtVerify(token, this.#key as Uint8Array, {
        algorithms: [...this.#options.algorithms],
        issuer: list(this.#options.issuer),
        audience: list(this.#options.audience),
        clockTolerance: this.#options.clockToleranceSeconds ?? 0,
      });
      payload = verified.payload;
    } catch (error) {
      return { kind: 'malformed', detail: describeFailure(error) };
    }
    const sessionKey =
      typeof payload.sid === 'string' && payload.sid.length > 0 ? payload.sid : payload.jti;
    if (typeof sessionKey !== 'string' || sessionKey.length === 0) {
      return {
        kind: 'malformed',
        detail: 'the token has neither a sid nor a jti claim, so it names no session',
      };
    }
    const authTime = typeof payload.auth_time === 'number' ? payload.auth_time : payload.iat;
    if (typeof authTime !== 'number' || !Number.isFinite(authTime)) {
      return {
        kind: 'malformed',
        detail: 'the token has neither auth_time nor iat, so its sign-in time is unknown',
      };
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      return { kind: 'malformed', detail: 'the token has no sub claim' };
    }
    const userType = payload[this.#userTypeClaim];
    return {
      kind: 'token',
      key: `${payload.iss ?? ''}\u0000${sessionKey}`,
      draft: {
        subject: payload.sub,
        roles: stringList(payload[this.#rolesClaim]),
        ...(typeof userType === 'string' && userType.length > 0 ? { userType } : {}),
        createdAt: Math.floor(authTime * 1_000),
      },
    };
  }
}
