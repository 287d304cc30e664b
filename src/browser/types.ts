/**
 * The shapes the browser SDK shares between its parts (the client, the tabs,
 * the `<lapse-warning>` element, the React hook). No DOM here, no Node.
 */

/** The JSON of `GET /_lapse/status` and `POST /_lapse/extend` (SPEC section 4); times in epoch ms of the SERVER's clock. */
export interface StatusBody {
  readonly state: 'active' | 'warning';
  /** The server's clock at the decision. */
  readonly now: number;
  /** `null` when idle is off. */
  readonly idleExpiresAt: number | null;
  readonly absoluteExpiresAt: number;
  /** When the warning starts: the earlier deadline minus `policy.warn`. */
  readonly warnAt: number;
  /** The effective policy, durations in ms (`idle: null` when off). */
  readonly policy: {
    readonly idle: number | null;
    readonly absolute: number;
    readonly warn: number;
  };
  /** The deciding rule's `message`, if it has one. */
  readonly message?: string;
}

/** Why a session is over, as the client tells the login page (`?reason=`). */
export type EndReason = 'idle' | 'absolute' | 'revoked' | 'missing' | 'invalid' | 'logout';

/** Where a session stands, as every part of the SDK sees it. */
export type LapsePhase =
  /** No answer from the server yet. */
  | 'starting'
  /** Signed in, outside the warning period. */
  | 'active'
  /** Inside the warning period: `<lapse-warning>` is open. */
  | 'warning'
  /** Over (timeout, revocation or sign-out); `endReason` says why. */
  | 'ended';

/** One immutable picture of the session, recomputed from the server's deadlines on every tick. */
export interface LapseSnapshot {
  readonly phase: LapsePhase;
  /** Whole seconds until the session ends (rounded down, never negative). */
  readonly remainingSeconds: number;
  /** Which deadline ends it first. */
  readonly endsBy: 'idle' | 'absolute';
  /** When it ends, epoch ms of the server's clock (`0` while starting). */
  readonly endsAt: number;
  /** The absolute deadline, epoch ms of the server's clock (`0` while starting). */
  readonly absoluteExpiresAt: number;
  /**
   * Whether "Stay signed in" can help: false when the absolute deadline is the
   * one that ends the session (the warning then says so honestly).
   */
  readonly canExtend: boolean;
  /** The policy rule's `message`, shown in the warning. */
  readonly message?: string;
  /** Why it ended (phase `ended` only). */
  readonly endReason?: EndReason;
}

/** What the warning element and the React hook need of a client. */
export interface LapseClientLike {
  /** The latest snapshot. */
  readonly snapshot: LapseSnapshot;
  /** Be told of every new snapshot (at least once a second during the warning); returns unsubscribe. */
  subscribe(listener: (snapshot: LapseSnapshot) => void): () => void;
  /** "Stay signed in": genuine activity, extends the session (never past the absolute deadline), in every tab. */
  extend(): Promise<void>;
  /** Sign out in every tab: revoke the session and go to the login page. */
  signOut(): Promise<void>;
}
