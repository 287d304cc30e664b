import * as crypto from 'node:crypto';

/** `crypto.hash` (Node >= 20.12): no Hash object per call, on the path of every request. */
const oneShotHash = (
  crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }
).hash;

/** A lapse session id: 256 random bits, base64url without padding (43 characters). */
const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Issue a fresh session id: 256 bits from the system CSPRNG, base64url.
 *
 * @example
 * import { generateSessionId } from 'lapse';
 * const id = generateSessionId(); // 'q3J0...' (43 characters)
 */
export function generateSessionId(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** Whether `id` has the exact shape of an id {@link generateSessionId} issues. */
export function isWellFormedSessionId(id: string): boolean {
  return SESSION_ID_RE.test(id);
}

/**
 * The only form of a session key a store ever holds: base64url SHA-256.
 * A leaked store therefore holds no usable bearer token.
 *
 * @example
 * import { hashSessionId } from 'lapse';
 * hashSessionId(id); // 43 characters, not reversible
 */
export function hashSessionId(id: string): string {
  return oneShotHash === undefined
    ? crypto.createHash('sha256').update(id).digest('base64url')
    : oneShotHash('sha256', id, 'base64url');
}

/**
 * Whether `idHash` has the exact shape {@link hashSessionId} returns (43
 * base64url characters encoding 32 bytes): how a store key is told from
 * anything else a caller passes (an admin's `DELETE /api/sessions/:id`).
 */
export function isWellFormedIdHash(idHash: string): boolean {
  // 32 bytes in base64url: the last character carries 4 bits and two zero bits.
  return /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(idHash);
}
