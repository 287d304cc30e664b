import { findCookie, type SessionCookieOptions } from '../cookies.js';
import type { HttpRequestLike } from '../http-request.js';
import type { CarriedSession, SessionCarrier } from './carrier.js';

/** Longest cookie value looked at; a session id is 43 characters. */
const MAX_ID_LENGTH = 256;

/**
 * The `lapse_sid` cookie: an opaque session id issued by `begin()`. The value
 * is only read here; whether it names a live session is the authority's call.
 */
export class CookieCarrier implements SessionCarrier {
  readonly cookie: SessionCookieOptions;

  constructor(cookie: SessionCookieOptions) {
    this.cookie = cookie;
  }

  read(request: HttpRequestLike): CarriedSession {
    const found = findCookie(request.header('cookie'), this.cookie.name);
    switch (found.kind) {
      case 'absent':
        return { kind: 'none' };
      case 'duplicate':
        return {
          kind: 'malformed',
          detail: `the ${this.cookie.name} cookie was sent more than once`,
        };
      case 'present':
        if (found.value.length === 0) return { kind: 'none' };
        if (found.value.length > MAX_ID_LENGTH) {
          return {
            kind: 'malformed',
            detail: `the ${this.cookie.name} cookie is too long to be a session id`,
          };
        }
        return { kind: 'session-id', id: found.value };
    }
  }
}
