import type { EnforcementContext } from '../policy/types.js';
import type { RejectReason, SessionRecord, SessionStatus } from './types.js';

/** Every event a {@link SessionAuthority} emits, by type. */
export interface AuthorityEvents {
  /** A session started. */
  begin: { readonly record: SessionRecord; readonly context: EnforcementContext };
  /** The person asked to stay signed in (`extend`). */
  extend: { readonly record: SessionRecord; readonly status: SessionStatus };
  /** A session reached its idle or absolute deadline; emitted exactly once per session. */
  expire: {
    readonly record: SessionRecord;
    readonly reason: 'idle' | 'absolute';
    /** What noticed it: a request, the store's sweep, or a revocation that came too late. */
    readonly noticedBy: 'check' | 'sweep' | 'revoke';
  };
  /** A session was revoked (logout, admin, sign out everywhere). */
  revoke: { readonly record: SessionRecord; readonly reason: string };
  /** A session id was rotated: `retired` is the old record, `successor` the new. */
  rotate: { readonly retired: SessionRecord; readonly successor: SessionRecord };
  /** A request was rejected. `retired` is true for a rotated id used again (an anomaly). */
  reject: {
    readonly reason: RejectReason;
    readonly record: SessionRecord | undefined;
    readonly retired: boolean;
    readonly context: EnforcementContext;
  };
}

/** The type of one authority event. */
export type AuthorityEventType = keyof AuthorityEvents;

/** A listener for one event type. */
export type AuthorityListener<K extends AuthorityEventType> = (event: AuthorityEvents[K]) => void;

/**
 * A small typed event hub. A listener that throws never breaks enforcement:
 * its error goes to `onListenerError`.
 */
export class AuthorityEventHub {
  readonly #listeners: { [K in AuthorityEventType]?: Set<AuthorityListener<K>> } = {};
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  on<K extends AuthorityEventType>(type: K, listener: AuthorityListener<K>): () => void {
    let set = this.#listeners[type] as Set<AuthorityListener<K>> | undefined;
    if (set === undefined) {
      set = new Set();
      (this.#listeners as Record<K, Set<AuthorityListener<K>>>)[type] = set;
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Whether anyone listens for `type` (lets callers skip building an event). */
  has(type: AuthorityEventType): boolean {
    return (this.#listeners[type]?.size ?? 0) > 0;
  }

  emit<K extends AuthorityEventType>(type: K, event: AuthorityEvents[K]): void {
    const set = this.#listeners[type] as Set<AuthorityListener<K>> | undefined;
    if (set === undefined) return;
    for (const listener of set) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
