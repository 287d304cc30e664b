import { ErrorCodes, LapseError, OptionError } from '../errors.js';
import { CompiledPolicy } from '../policy/compiled-policy.js';
import type { EnforcementContext, Policy } from '../policy/types.js';
import type { AccessResult, SessionStore } from '../store/session-store.js';
import { deadlinesFor, statusAt } from './decide.js';
import { AuthorityEventHub, type AuthorityEventType, type AuthorityListener } from './events.js';
import { generateSessionId, hashSessionId, isWellFormedSessionId } from './session-id.js';
import type {
  RejectReason,
  SessionChanges,
  SessionDraft,
  SessionRecord,
  SessionStatus,
} from './types.js';

/** Options of {@link SessionAuthority}. */
export interface SessionAuthorityOptions {
  /** The policy, loaded (`Policy`) or compiled. */
  readonly policy: Policy | CompiledPolicy;
  /** Where sessions live. Its clock is the authority on "now". */
  readonly store: SessionStore;
  /** Where errors thrown by event listeners go (they never break enforcement). Default: console.error. */
  readonly onListenerError?: (error: unknown) => void;
}

/** The answer to a check: pass with a status, or reject with a reason. */
export type Verdict =
  | { readonly ok: true; readonly status: SessionStatus; readonly record: SessionRecord }
  | {
      readonly ok: false;
      readonly reason: RejectReason;
      /** The ended record, when the id was known. */
      readonly record?: SessionRecord;
      /** True when the id was retired by rotation and used again. */
      readonly retired: boolean;
    };

/** A session just started: the id goes to the client (once), the rest stays here. */
export interface BegunSession {
  /** The new session id: hand it to the carrier, never log it. */
  readonly id: string;
  readonly record: SessionRecord;
  readonly status: SessionStatus;
}

/** What became of a revocation. */
export type RevokeOutcome =
  | { readonly outcome: 'revoked'; readonly record: SessionRecord }
  | {
      readonly outcome: 'already-ended';
      readonly reason: RejectReason;
      readonly record: SessionRecord;
    }
  | { readonly outcome: 'unknown' };

/** What became of a rotation. */
export type RotateOutcome =
  | { readonly ok: true; readonly id: string; readonly record: SessionRecord }
  | { readonly ok: false; readonly reason: RejectReason; readonly retired: boolean };

const EMPTY_CONTEXT: EnforcementContext = Object.freeze({});

function toRejectReason(reason: SessionRecord['endReason']): RejectReason {
  return reason === 'rotated' ? 'revoked' : (reason ?? 'invalid');
}

/**
 * The session authority: the one place that decides whether a session is
 * alive, combining the policy, a store and the store's clock. Every enforcement
 * point (gateway, middleware) asks it; none decides on its own.
 *
 * @example
 * import { MemoryStore, SessionAuthority, loadPolicyFile } from 'lapse';
 * const authority = new SessionAuthority({ policy: await loadPolicyFile('lapse.yaml'), store: new MemoryStore() });
 * const { id } = await authority.begin({ subject: 'u1', roles: ['admin'] }, { environment: 'production' });
 * const verdict = await authority.check(id, { environment: 'production' });
 * if (!verdict.ok) console.log(verdict.reason); // 'idle' | 'absolute' | 'revoked' | 'missing' | 'invalid'
 */
export class SessionAuthority {
  #policy: CompiledPolicy;
  readonly #store: SessionStore;
  readonly #events: AuthorityEventHub;
  readonly #stopListening: () => void;

  constructor(options: SessionAuthorityOptions) {
    if (options === null || typeof options !== 'object') {
      throw new OptionError('options', 'pass { policy, store }');
    }
    if (options.store === undefined || typeof options.store.access !== 'function') {
      throw new OptionError('store', 'pass a SessionStore, for example new MemoryStore()');
    }
    this.#policy = SessionAuthority.#compile(options.policy);
    this.#store = options.store;
    this.#events = new AuthorityEventHub(
      options.onListenerError ?? ((error) => console.error('lapse: event listener failed', error)),
    );
    this.#stopListening = this.#store.onExpire((record) => {
      const reason = record.endReason;
      if (reason === 'idle' || reason === 'absolute') {
        this.#events.emit('expire', { record, reason, noticedBy: 'sweep' });
      }
    });
  }

  static #compile(policy: Policy | CompiledPolicy | undefined): CompiledPolicy {
    if (policy instanceof CompiledPolicy) return policy;
    if (policy === undefined || policy === null || typeof policy !== 'object') {
      throw new OptionError('policy', 'pass a policy from loadPolicy() or loadPolicyFile()');
    }
    return new CompiledPolicy(policy);
  }

  /** The policy in force. */
  get policy(): CompiledPolicy {
    return this.#policy;
  }

  /** The store sessions live in. */
  get store(): SessionStore {
    return this.#store;
  }

  /** Replace the policy (a reload). A stricter policy applies to live sessions at their next check. */
  setPolicy(policy: Policy | CompiledPolicy): void {
    this.#policy = SessionAuthority.#compile(policy);
  }

  /** Listen for an event; returns a function that stops listening. */
  on<K extends AuthorityEventType>(type: K, listener: AuthorityListener<K>): () => void {
    return this.#events.on(type, listener);
  }

  /**
   * Start a session after the app's own sign-in: always a fresh id, never one
   * the client offered (no fixation).
   */
  async begin(
    draft: SessionDraft,
    context: EnforcementContext = EMPTY_CONTEXT,
  ): Promise<BegunSession> {
    if (typeof draft?.subject !== 'string' || draft.subject.length === 0) {
      throw new OptionError('subject', 'a session needs a non-empty subject string');
    }
    const resolver = this.#policy.forContext(context);
    // A collision of 256-bit random ids does not happen; the loop is for correctness, not hope.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const id = generateSessionId();
      const result = await this.#store.create(hashSessionId(id), draft, resolver);
      if (result.outcome === 'created') {
        const { record } = result;
        const effective = resolver.resolve(record);
        const status = statusAt(deadlinesFor(record, effective), effective, record.lastActivityAt);
        this.#events.emit('begin', { record, context });
        return { id, record, status };
      }
    }
    throw new LapseError(ErrorCodes.STORE_UNAVAILABLE, 'could not allocate a unique session id');
  }

  /**
   * Check a request's session and, unless it is passive, count it as activity:
   * one atomic step in the store.
   */
  check(
    id: string | undefined,
    context: EnforcementContext = EMPTY_CONTEXT,
    options: { readonly passive?: boolean } = {},
  ): Promise<Verdict> {
    return this.#access(id, context, options.passive === true ? 'peek' : 'touch');
  }

  /** "Stay signed in": genuine activity, reported as an extension. Cannot pass the absolute deadline. */
  async extend(
    id: string | undefined,
    context: EnforcementContext = EMPTY_CONTEXT,
  ): Promise<Verdict> {
    const verdict = await this.#access(id, context, 'touch');
    if (verdict.ok) this.#events.emit('extend', { record: verdict.record, status: verdict.status });
    return verdict;
  }

  /** The session's standing without touching it (a status read is passive). */
  status(id: string | undefined, context: EnforcementContext = EMPTY_CONTEXT): Promise<Verdict> {
    return this.#access(id, context, 'peek');
  }

  /**
   * Check a session named by a verified token (a JWT's `iss` + `sid`/`jti`),
   * not by a lapse id. The token is the proof of sign-in, so its first sight
   * creates the record (authentication time from the token); every later sight
   * is checked like any session, and a token replayed after its session ended
   * is rejected with the original reason. Only call this with a key from a
   * token whose signature, issuer, audience and expiry were verified.
   */
  async checkToken(
    key: string,
    draft: SessionDraft,
    context: EnforcementContext = EMPTY_CONTEXT,
    options: { readonly passive?: boolean; readonly extend?: boolean } = {},
  ): Promise<Verdict> {
    const idHash = hashSessionId(`token\u0000${key}`);
    const mode = options.passive === true ? 'peek' : 'touch';
    const resolver = this.#policy.forContext(context);
    let result = await this.#store.access(idHash, mode, resolver);
    if (result.outcome === 'unknown') {
      const created = await this.#store.create(idHash, draft, resolver);
      if (created.outcome === 'created')
        this.#events.emit('begin', { record: created.record, context });
      result = await this.#store.access(idHash, mode, resolver);
    }
    const verdict = this.#verdictOf(result, context);
    if (verdict.ok && options.extend === true) {
      this.#events.emit('extend', { record: verdict.record, status: verdict.status });
    }
    return verdict;
  }

  async #access(
    id: string | undefined,
    context: EnforcementContext,
    mode: 'touch' | 'peek',
  ): Promise<Verdict> {
    if (id === undefined || id.length === 0)
      return this.#reject('missing', undefined, false, context);
    if (!isWellFormedSessionId(id)) return this.#reject('invalid', undefined, false, context);
    const result = await this.#store.access(
      hashSessionId(id),
      mode,
      this.#policy.forContext(context),
    );
    return this.#verdictOf(result, context);
  }

  #verdictOf(result: AccessResult, context: EnforcementContext): Verdict {
    switch (result.outcome) {
      case 'active':
        return { ok: true, status: result.status, record: result.record };
      case 'unknown':
        return this.#reject('invalid', undefined, false, context);
      case 'ended': {
        const { reason, record } = result;
        if (result.endedNow && (reason === 'idle' || reason === 'absolute')) {
          this.#events.emit('expire', { record, reason, noticedBy: 'check' });
        }
        return this.#reject(toRejectReason(reason), record, reason === 'rotated', context);
      }
    }
  }

  /**
   * Record a rejection decided before any session could be looked up (nothing
   * presented, or a credential that failed verification) and return its verdict.
   */
  reject(reason: 'missing' | 'invalid', context: EnforcementContext = EMPTY_CONTEXT): Verdict {
    return this.#reject(reason, undefined, false, context);
  }

  #reject(
    reason: RejectReason,
    record: SessionRecord | undefined,
    retired: boolean,
    context: EnforcementContext,
  ): Verdict {
    if (this.#events.has('reject'))
      this.#events.emit('reject', { reason, record, retired, context });
    return record === undefined
      ? { ok: false, reason, retired }
      : { ok: false, reason, record, retired };
  }

  /** Revoke one session by id (logout). */
  async revoke(id: string, reason = 'logout'): Promise<RevokeOutcome> {
    if (!isWellFormedSessionId(id)) return { outcome: 'unknown' };
    return this.revokeHash(hashSessionId(id), reason);
  }

  /** Revoke one session by its stored hash (what an admin sees; never the id). */
  async revokeHash(idHash: string, reason = 'admin'): Promise<RevokeOutcome> {
    const result = await this.#store.revoke(idHash, reason);
    switch (result.outcome) {
      case 'unknown':
        return result;
      case 'ended':
        this.#events.emit('revoke', { record: result.record, reason });
        return { outcome: 'revoked', record: result.record };
      case 'already-ended': {
        const { reason: ended, record } = result;
        if (result.endedNow && (ended === 'idle' || ended === 'absolute')) {
          this.#events.emit('expire', { record, reason: ended, noticedBy: 'revoke' });
        }
        return { outcome: 'already-ended', reason: toRejectReason(ended), record };
      }
    }
  }

  /** Revoke the session a verified token names (its `iss` + `sid`/`jti` key). */
  async revokeToken(key: string, reason = 'logout'): Promise<RevokeOutcome> {
    return this.revokeHash(hashSessionId(`token\u0000${key}`), reason);
  }

  /** "Sign out everywhere": revoke every live session of a subject. Returns how many. */
  async revokeSubject(subject: string, reason = 'subject'): Promise<number> {
    const revoked = await this.#store.revokeSubject(subject, reason);
    for (const record of revoked) this.#events.emit('revoke', { record, reason });
    return revoked.length;
  }

  /**
   * Issue a new id for a live session (sign-in, re-authentication, privilege
   * change) with the same deadlines; the old id is retired and rejected as
   * `revoked` from now on.
   */
  async rotate(id: string, changes: SessionChanges = {}): Promise<RotateOutcome> {
    if (!isWellFormedSessionId(id)) return { ok: false, reason: 'invalid', retired: false };
    const oldHash = hashSessionId(id);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const newId = generateSessionId();
      const result = await this.#store.rotate(oldHash, hashSessionId(newId), changes);
      switch (result.outcome) {
        case 'conflict':
          continue;
        case 'unknown':
          return { ok: false, reason: 'invalid', retired: false };
        case 'already-ended': {
          const { reason, record } = result;
          if (result.endedNow && (reason === 'idle' || reason === 'absolute')) {
            this.#events.emit('expire', { record, reason, noticedBy: 'revoke' });
          }
          return { ok: false, reason: toRejectReason(reason), retired: reason === 'rotated' };
        }
        case 'rotated':
          this.#events.emit('rotate', { retired: result.retired, successor: result.successor });
          return { ok: true, id: newId, record: result.successor };
      }
    }
    throw new LapseError(ErrorCodes.STORE_UNAVAILABLE, 'could not allocate a unique session id');
  }

  /** Run the store's sweep now (stores also sweep on their own timer). Returns how many ended. */
  async sweep(): Promise<number> {
    return (await this.#store.sweep()).length;
  }

  /** Stop listening to the store. The store itself is the caller's to close. */
  dispose(): void {
    this.#stopListening();
  }
}
