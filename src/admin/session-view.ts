import { currentDeadlines } from '../observe/session-census.js';
import type { EnforcementContext } from '../policy/types.js';
import type { SessionAuthority } from '../session/authority.js';
import { expiryAt } from '../session/decide.js';
import type { EndReason, SessionRecord } from '../session/types.js';

/** Where a session stands, as the admin API shows it. */
export type AdminSessionState = 'active' | 'warning' | 'ended';

/** A session as the admin API and the dashboard show it (never its id: `id` is the store key). */
export interface AdminSession {
  /** The store's key: SHA-256 of the session id, base64url. Names the session to the admin API. */
  readonly id: string;
  /** The `session` of this session's audit events. */
  readonly ref: string;
  readonly subject: string;
  readonly roles: readonly string[];
  readonly userType: string;
  readonly rule: string;
  readonly state: AdminSessionState;
  readonly createdAt: number;
  readonly lastActivityAt: number;
  readonly idleExpiresAt: number | null;
  readonly absoluteExpiresAt: number;
  readonly warnAt: number;
  readonly endedAt: number | null;
  readonly endReason: EndReason | null;
  readonly revokeReason: string | null;
}

/**
 * A stored record as the admin sees it at the store's `now`, with the
 * deadlines its next request would meet (the stored ones, tightened by the
 * policy in force now). A session past such a deadline that nothing has
 * ended yet is shown `ended`, with the reason and time it will be ended with
 * (the earlier deadline, as the decisions date it).
 */
export function adminSessionView(
  record: SessionRecord,
  now: number,
  authority: Pick<SessionAuthority, 'policy'>,
  ref: string,
  context: EnforcementContext = {},
): AdminSession {
  const isEnded = record.endReason !== undefined;
  // An ended session keeps the deadlines it ended with; a live one is shown as
  // its next request would meet it, under the policy in force now.
  const current = isEnded
    ? { ...record, warnAt: currentDeadlines(record, authority, context).warnAt }
    : currentDeadlines(record, authority, context);
  const { warnAt } = current;
  let state: AdminSessionState;
  let endedAt = record.endedAt ?? null;
  let endReason = record.endReason ?? null;
  if (isEnded) {
    state = 'ended';
  } else {
    const due = expiryAt(current, now);
    if (due !== undefined) {
      state = 'ended';
      endReason = due;
      endedAt = due === 'idle' ? (current.idleExpiresAt as number) : current.absoluteExpiresAt;
    } else {
      state = now >= warnAt ? 'warning' : 'active';
    }
  }
  return {
    id: record.idHash,
    ref,
    subject: record.subject,
    roles: record.roles,
    userType: record.userType,
    rule: record.rule,
    state,
    createdAt: record.createdAt,
    lastActivityAt: record.lastActivityAt,
    idleExpiresAt: current.idleExpiresAt,
    absoluteExpiresAt: current.absoluteExpiresAt,
    warnAt,
    endedAt,
    endReason,
    revokeReason: record.revokeReason ?? null,
  };
}
