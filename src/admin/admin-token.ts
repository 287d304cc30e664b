import { createHash, timingSafeEqual } from 'node:crypto';
import { OptionError } from '../errors.js';

const BEARER = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The admin API's bearer token, checked in constant time: the presented token
 * and the expected one are both hashed with SHA-256 and the digests compared
 * with `timingSafeEqual`, so the time taken says nothing about where they
 * differ, nor about the expected token's length. The token itself is kept
 * only as its digest.
 *
 * @example
 * import { AdminToken } from 'lapse/admin';
 * const token = new AdminToken(process.env.LAPSE_ADMIN_TOKEN ?? '');
 * token.accepts(request.headers.authorization); // true only for `Bearer <that token>`
 */
export class AdminToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    if (typeof token !== 'string' || !/^[\x21-\x7e]{16,}$/.test(token)) {
      throw new OptionError(
        'token',
        'expected at least 16 visible ASCII characters (for example from openssl rand -base64 32)',
      );
    }
    this.#digest = digest(token);
  }

  /** Whether an `Authorization` header value carries this token as `Bearer`. */
  accepts(authorization: string | undefined): boolean {
    const presented = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    // A missing or malformed header still costs one hash and one comparison.
    const isEqual = timingSafeEqual(digest(presented ?? ''), this.#digest);
    return presented !== undefined && isEqual;
  }

  /** Never print the token. */
  toJSON(): string {
    return '[secret]';
  }
}
