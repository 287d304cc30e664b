/**
 * The pure decisions of SPEC section 3. Every store runs these (or, for a
 * store that decides inside a server-side script, an implementation held to
 * the same conformance suite) inside one atomic step. No I/O, no clock: `now`
 * is passed in.
 */
import type { EffectivePolicy, SessionAttributes } from '../policy/types.js';
import type {
  EndReason,
  SessionChanges,
  SessionDraft,
  SessionRecord,
  SessionStatus,
} from './types.js';

/** Resolves the effective policy of a session in the context of one request. */
export interface PolicyResolver {
  resolve(session: SessionAttributes): EffectivePolicy;
}

/** `touch`: genuine activity. `peek`: passive traffic or a status read; never moves activity. */
export type AccessMode = 'touch' | 'peek';

/** The outcome of one check (and touch, when genuine). */
export type AccessDecision =
  | {
      readonly outcome: 'active';
      readonly record: SessionRecord;
      readonly status: SessionStatus;
      /** The record to write, or `undefined` when nothing changed. */
      readonly write: SessionRecord | undefined;
    }
  | {
      readonly outcome: 'ended';
      readonly reason: EndReason;
      readonly record: SessionRecord;
      /** True when this decision is the one that ended the session (write `record`). */
      readonly endedNow: boolean;
    };

/** The deadlines a request in one context is held to. */
export interface Deadlines {
  readonly idleExpiresAt: number | null;
  readonly absoluteExpiresAt: number;
}

function earlier(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/**
 * The deadlines of a session under `effective`: the earlier of its own
 * context's deadlines and those fixed at its last write (so a sweep and a
 * request never disagree, and a stricter policy bites at once).
 */
export function deadlinesFor(record: SessionRecord, effective: EffectivePolicy): Deadlines {
  const idleHere = effective.idleMs === null ? null : record.lastActivityAt + effective.idleMs;
  return {
    idleExpiresAt: earlier(idleHere, record.idleExpiresAt),
    absoluteExpiresAt: Math.min(record.createdAt + effective.absoluteMs, record.absoluteExpiresAt),
  };
}

/**
 * Which deadline, if any, has passed at `now`. Half-open: at exactly the
 * deadline the session is expired. When both have passed, the one that came
 * first is the reason (absolute on a tie: it is final whatever the activity).
 */
export function expiryAt(deadlines: Deadlines, now: number): 'idle' | 'absolute' | undefined {
  const { idleExpiresAt: idle, absoluteExpiresAt: absolute } = deadlines;
  const idlePassed = idle !== null && now >= idle;
  const absolutePassed = now >= absolute;
  if (absolutePassed && (!idlePassed || absolute <= (idle as number))) return 'absolute';
  if (idlePassed) return 'idle';
  return undefined;
}

function ended(
  record: SessionRecord,
  reason: EndReason,
  endedAt: number,
  retainMs: number,
  revokeReason?: string,
): SessionRecord {
  return {
    ...record,
    endedAt,
    endReason: reason,
    ...(revokeReason === undefined ? {} : { revokeReason }),
    purgeAt: Math.max(record.absoluteExpiresAt, endedAt) + retainMs,
  };
}

/** End a record at the deadline that passed (the session ended then, not when noticed). */
function expired(
  record: SessionRecord,
  reason: 'idle' | 'absolute',
  deadlines: Deadlines,
  retainMs: number,
): SessionRecord {
  const endedAt =
    reason === 'absolute' ? deadlines.absoluteExpiresAt : (deadlines.idleExpiresAt as number);
  return ended(record, reason, endedAt, retainMs);
}

/** The status of a live session with these deadlines at `now`. */
export function statusAt(
  deadlines: Deadlines,
  effective: EffectivePolicy,
  now: number,
): SessionStatus {
  const warnAt = nextDeadline(deadlines) - effective.warnMs;
  return {
    state: now >= warnAt ? 'warning' : 'active',
    now,
    idleExpiresAt: deadlines.idleExpiresAt,
    absoluteExpiresAt: deadlines.absoluteExpiresAt,
    warnAt,
    policy: effective,
  };
}

/**
 * Check a session at `now` and, for genuine activity, touch it: ONE decision,
 * which a store applies atomically. An ended session stays ended with its
 * original reason; a passed deadline ends it; a touch moves `lastActivityAt`
 * forward only (never backward) and never revives anything.
 */
export function decideAccess(
  record: SessionRecord,
  policy: PolicyResolver,
  now: number,
  mode: AccessMode,
  retainMs: number,
): AccessDecision {
  if (record.endReason !== undefined) {
    return { outcome: 'ended', reason: record.endReason, record, endedNow: false };
  }
  const effective = policy.resolve(record);
  const deadlines = deadlinesFor(record, effective);
  const reason = expiryAt(deadlines, now);
  if (reason !== undefined) {
    return {
      outcome: 'ended',
      reason,
      record: expired(record, reason, deadlines, retainMs),
      endedNow: true,
    };
  }
  if (mode === 'peek') {
    return {
      outcome: 'active',
      record,
      status: statusAt(deadlines, effective, now),
      write: undefined,
    };
  }
  const lastActivityAt = Math.max(record.lastActivityAt, now);
  const touched: SessionRecord = {
    ...record,
    lastActivityAt,
    idleExpiresAt: effective.idleMs === null ? null : lastActivityAt + effective.idleMs,
    absoluteExpiresAt: deadlines.absoluteExpiresAt,
    rule: effective.from.idle,
    purgeAt: deadlines.absoluteExpiresAt + retainMs,
  };
  return {
    outcome: 'active',
    record: touched,
    status: statusAt(touched, effective, now),
    write: touched,
  };
}

/**
 * A new session record. `createdAt` defaults to `now`; activity starts at
 * `now` (or at `createdAt` if that is later, which a future `auth_time` would be).
 */
export function createRecord(
  idHash: string,
  draft: SessionDraft,
  policy: PolicyResolver,
  now: number,
  retainMs: number,
): SessionRecord {
  const attributes = { roles: draft.roles ?? [], userType: draft.userType ?? 'human' };
  const effective = policy.resolve(attributes);
  const createdAt = draft.createdAt ?? now;
  const lastActivityAt = Math.max(createdAt, now);
  const absoluteExpiresAt = createdAt + effective.absoluteMs;
  return {
    idHash,
    subject: draft.subject,
    roles: attributes.roles,
    userType: attributes.userType,
    attrs: draft.attrs ?? {},
    createdAt,
    lastActivityAt,
    idleExpiresAt: effective.idleMs === null ? null : lastActivityAt + effective.idleMs,
    absoluteExpiresAt,
    rule: effective.from.idle,
    purgeAt: absoluteExpiresAt + retainMs,
  };
}

/** The deadlines a record was last written with: what context-free decisions use. */
function storedDeadlines(record: SessionRecord): Deadlines {
  return { idleExpiresAt: record.idleExpiresAt, absoluteExpiresAt: record.absoluteExpiresAt };
}

/**
 * The sweep's decision: end a live record whose stored deadline has passed.
 * Returns the ended record, or `undefined` when it is not due (or already ended).
 */
export function expireIfDue(
  record: SessionRecord,
  now: number,
  retainMs: number,
): SessionRecord | undefined {
  if (record.endReason !== undefined) return undefined;
  const deadlines = storedDeadlines(record);
  const reason = expiryAt(deadlines, now);
  return reason === undefined ? undefined : expired(record, reason, deadlines, retainMs);
}

/**
 * The earlier of two deadlines (a record's stored ones, a status's, a
 * context's): when a live record next needs the sweep's attention, when a
 * session's connections must be re-checked.
 */
export function nextDeadline(deadlines: Deadlines): number {
  return deadlines.idleExpiresAt === null
    ? deadlines.absoluteExpiresAt
    : Math.min(deadlines.idleExpiresAt, deadlines.absoluteExpiresAt);
}

/** The outcome of ending a session on purpose (revoke or rotate). */
export type EndDecision =
  | { readonly outcome: 'ended'; readonly record: SessionRecord }
  | {
      readonly outcome: 'already-ended';
      readonly reason: EndReason;
      readonly record: SessionRecord;
      readonly endedNow: boolean;
    };

/**
 * Revoke a session at `now`. A session that already ended (or whose deadline
 * has passed) keeps its original reason: revocation never rewrites history.
 */
export function decideRevoke(
  record: SessionRecord,
  now: number,
  revokeReason: string,
  retainMs: number,
  endReason: 'revoked' | 'rotated' = 'revoked',
): EndDecision {
  if (record.endReason !== undefined) {
    return { outcome: 'already-ended', reason: record.endReason, record, endedNow: false };
  }
  const due = expireIfDue(record, now, retainMs);
  if (due !== undefined) {
    return {
      outcome: 'already-ended',
      reason: due.endReason as EndReason,
      record: due,
      endedNow: true,
    };
  }
  return { outcome: 'ended', record: ended(record, endReason, now, retainMs, revokeReason) };
}

/** The outcome of rotating a session id. */
export type RotateDecision =
  | {
      readonly outcome: 'rotated';
      readonly retired: SessionRecord;
      readonly successor: SessionRecord;
    }
  | {
      readonly outcome: 'already-ended';
      readonly reason: EndReason;
      readonly record: SessionRecord;
      readonly endedNow: boolean;
    };

/**
 * Rotate: retire the old id and carry the session, with the same deadlines,
 * to `newIdHash`. Roles, user type and attrs may change (a privilege change);
 * a stricter policy for the new roles applies from the next check.
 */
export function decideRotate(
  record: SessionRecord,
  newIdHash: string,
  changes: SessionChanges,
  now: number,
  retainMs: number,
): RotateDecision {
  const retire = decideRevoke(record, now, 'rotated', retainMs, 'rotated');
  if (retire.outcome === 'already-ended') return retire;
  return {
    outcome: 'rotated',
    retired: retire.record,
    successor: successorOf(record, newIdHash, changes),
  };
}

/**
 * The session a rotation carries to `newIdHash`: the same record, deadlines
 * and all, with the changed roles, user type or attrs.
 */
export function successorOf(
  record: SessionRecord,
  newIdHash: string,
  changes: SessionChanges,
): SessionRecord {
  return {
    ...record,
    idHash: newIdHash,
    roles: changes.roles ?? record.roles,
    userType: changes.userType ?? record.userType,
    attrs: changes.attrs ?? record.attrs,
  };
}
