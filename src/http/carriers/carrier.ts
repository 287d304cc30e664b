import type { SessionDraft } from '../../session/types.js';
import type { HttpRequestLike } from '../http-request.js';

/** What a carrier found on a request. */
export type CarriedSession =
  /** Nothing presented: the request has no session. */
  | { readonly kind: 'none' }
  /** Something presented that cannot be trusted (forged, expired, duplicated, malformed). */
  | { readonly kind: 'malformed'; readonly detail: string }
  /** A lapse session id (from the cookie). */
  | { readonly kind: 'session-id'; readonly id: string }
  /** A verified token: its session key (`iss` + `sid`/`jti`) and who it says the person is. */
  | { readonly kind: 'token'; readonly key: string; readonly draft: SessionDraft };

/**
 * Reads the session a request carries. One per way of carrying it (cookie,
 * JWT). A carrier that needs no I/O answers synchronously (the cookie), one
 * that may fetch keys answers with a promise (JWKS).
 */
export interface SessionCarrier {
  read(request: HttpRequestLike): CarriedSession | Promise<CarriedSession>;
}
