import type { EffectivePolicy } from '../policy/types.js';

/** Why a session ended. `rotated` is a retired id (reported over HTTP as `revoked`). */
export type EndReason = 'idle' | 'absolute' | 'revoked' | 'rotated';

/** Why a request was rejected (SPEC section 4). */
export type RejectReason = 'idle' | 'absolute' | 'revoked' | 'missing' | 'invalid';

/** Free-form attributes kept with a session (never used for timeouts unless a rule says so). */
export type SessionAttrs = Readonly<Record<string, string | number | boolean>>;

/**
 * A session as a store keeps it. The store never sees the session id, only
 * `idHash` (base64url SHA-256 of the id). Every time is epoch milliseconds on
 * the store's clock.
 */
export interface SessionRecord {
  readonly idHash: string;
  readonly subject: string;
  readonly roles: readonly string[];
  readonly userType: string;
  readonly attrs: SessionAttrs;
  /** Authentication time. */
  readonly createdAt: number;
  /** Last genuine activity; only ever moves forward. */
  readonly lastActivityAt: number;
  /**
   * Idle deadline fixed at the last write (`null`: idle off). Requests are
   * checked against the earlier of this and their own context's deadline; the
   * sweep, revoke and rotate, which have no context, use it alone.
   */
  readonly idleExpiresAt: number | null;
  /** Absolute deadline; fixed at sign-in, it can come closer but never move later. */
  readonly absoluteExpiresAt: number;
  /** When the session ended (for idle and absolute: the deadline itself). */
  readonly endedAt?: number;
  readonly endReason?: EndReason;
  /** Why it was revoked (`logout`, `admin`, `subject`, ...), when `endReason` is `revoked`. */
  readonly revokeReason?: string;
  /** The deciding rule at the last write, for audit (`defaults` or a rule name). */
  readonly rule: string;
  /** After this the store may forget the record; until then an ended id keeps its reason. */
  readonly purgeAt: number;
}

/** A session's standing at one instant, as `/_lapse/status` reports it. */
export interface SessionStatus {
  readonly state: 'active' | 'warning';
  /** The store's clock at the decision. */
  readonly now: number;
  /** `null` when idle is off. */
  readonly idleExpiresAt: number | null;
  readonly absoluteExpiresAt: number;
  /** When the warning starts (the earliest deadline minus warn). */
  readonly warnAt: number;
  readonly policy: EffectivePolicy;
}

/** What the app knows of a person when it starts a session. */
export interface SessionDraft {
  readonly subject: string;
  readonly roles?: readonly string[];
  /** Defaults to `human`. */
  readonly userType?: string;
  readonly attrs?: SessionAttrs;
  /** Authentication time (for a JWT: `auth_time` or `iat`); defaults to the store's now. */
  readonly createdAt?: number;
}

/** The parts of a session a caller may change while rotating its id. */
export interface SessionChanges {
  readonly roles?: readonly string[];
  readonly userType?: string;
  readonly attrs?: SessionAttrs;
}
