import type { SessionStatus } from '../session/types.js';

/** The response header that tells clients how long the session has left (SPEC section 4). */
export const SESSION_HEADER = 'Lapse-Session';

function remainingSeconds(until: number, now: number): number {
  return Math.max(0, Math.floor((until - now) / 1_000));
}

/**
 * The `Lapse-Session` value, an RFC 8941 dictionary of whole seconds left:
 * `state=active, idle=840, absolute=28000, warn=120`. Seconds round down, so a
 * client is never told it has more time than it has. `idle` is absent when
 * idle is off; `warn` is the length of the warning period.
 */
export function sessionHeaderValue(status: SessionStatus): string {
  const idle =
    status.idleExpiresAt === null
      ? ''
      : `, idle=${remainingSeconds(status.idleExpiresAt, status.now)}`;
  return `state=${status.state}${idle}, absolute=${remainingSeconds(status.absoluteExpiresAt, status.now)}, warn=${Math.floor(status.policy.warnMs / 1_000)}`;
}

/** The JSON body of `/_lapse/status` and `/_lapse/extend` (times in epoch ms, durations in ms). */
export function statusBody(status: SessionStatus): object {
  return {
    state: status.state,
    now: status.now,
    idleExpiresAt: status.idleExpiresAt,
    absoluteExpiresAt: status.absoluteExpiresAt,
    warnAt: status.warnAt,
    policy: {
      idle: status.policy.idleMs,
      absolute: status.policy.absoluteMs,
      warn: status.policy.warnMs,
    },
    ...(status.policy.message === undefined ? {} : { message: status.policy.message }),
  };
}
