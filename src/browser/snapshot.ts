/**
 * Where a session stands at one instant, computed from the server's deadlines
 * alone. Pure: no clock, no DOM. Every tick, every tab and the warning element
 * see the same answer for the same status and the same server time.
 */
import type { EndReason, LapseSnapshot, StatusBody } from './types.js';

/**
 * The snapshot before the server has answered.
 *
 * @example
 * import { STARTING_SNAPSHOT } from './snapshot.js';
 * let snapshot = STARTING_SNAPSHOT; // phase 'starting', until the first status
 */
export const STARTING_SNAPSHOT: LapseSnapshot = {
  phase: 'starting',
  remainingSeconds: 0,
  endsBy: 'idle',
  endsAt: 0,
  absoluteExpiresAt: 0,
  canExtend: false,
};

/**
 * The snapshot of `status` at `serverNow` (epoch ms of the server's clock).
 * Deadlines are half-open, as on the server: at exactly `endsAt` the session
 * is `ended`, at exactly `warnAt` it is in `warning`. The absolute deadline
 * wins a tie with the idle one. `canExtend` is false when the absolute
 * deadline ends the session, or when extending now would not move the end.
 *
 * @example
 * import { snapshotAt } from 'lapse/browser';
 * const snapshot = snapshotAt(status, Date.now() + skewMs);
 * if (snapshot.phase === 'warning') console.log(`${snapshot.remainingSeconds} s left`);
 */
export function snapshotAt(status: StatusBody, serverNow: number): LapseSnapshot {
  const { idleExpiresAt: idleAt, absoluteExpiresAt, policy } = status;
  const isIdleFirst = idleAt !== null && idleAt < absoluteExpiresAt;
  const endsAt = isIdleFirst ? idleAt : absoluteExpiresAt;
  const endsBy = isIdleFirst ? 'idle' : 'absolute';
  const phase = serverNow >= endsAt ? 'ended' : serverNow >= status.warnAt ? 'warning' : 'active';
  return {
    phase,
    remainingSeconds: Math.max(0, Math.floor((endsAt - serverNow) / 1000)),
    endsBy,
    endsAt,
    absoluteExpiresAt,
    // Extending sets the idle deadline to now + idle (capped by the absolute one). With idle
    // off (null), `serverNow + null` is `serverNow`, before `endsAt` while not ended: false.
    canExtend: isIdleFirst && phase !== 'ended' && serverNow + (policy.idle as number) > endsAt,
    ...(status.message === undefined ? {} : { message: status.message }),
    ...(phase === 'ended' ? { endReason: endsBy } : {}),
  };
}

/**
 * `snapshot` (the last one known, or the starting one) as over, for `reason`.
 *
 * @example
 * import { endedSnapshot } from './snapshot.js';
 * client.emit(endedSnapshot(client.snapshot, 'logout'));
 */
export function endedSnapshot(snapshot: LapseSnapshot, reason: EndReason): LapseSnapshot {
  return { ...snapshot, phase: 'ended', remainingSeconds: 0, canExtend: false, endReason: reason };
}

/**
 * The next server instant after `serverNow` at which a live session's
 * snapshot changes what it shows: the warning's start, then (during the
 * warning) the next whole second of the countdown, the last one being the end.
 *
 * @example
 * import { nextChangeAt } from './snapshot.js';
 * const { endsAt } = snapshotAt(status, serverNow);
 * setTimeout(tick, nextChangeAt(status.warnAt, endsAt, serverNow) - serverNow);
 */
export function nextChangeAt(warnAt: number, endsAt: number, serverNow: number): number {
  // Seconds are floored: the shown number drops when the remainder goes below a whole second.
  return serverNow < warnAt
    ? warnAt
    : Math.min(endsAt, serverNow + ((endsAt - serverNow) % 1000) + 1);
}

/**
 * Whether `value` looks like a status body (from the server or another tab):
 * numbers where numbers belong, so a bad answer cannot make NaN deadlines.
 *
 * @example
 * import { isStatusBody } from './snapshot.js';
 * const body = await response.json();
 * if (isStatusBody(body)) adopt(body);
 */
export function isStatusBody(value: unknown): value is StatusBody {
  const body = value as StatusBody | null;
  const policy = body?.policy;
  return (
    [body?.now, body?.absoluteExpiresAt, body?.warnAt, policy?.warn].every(Number.isFinite) &&
    [body?.idleExpiresAt, policy?.idle].every((n) => n === null || Number.isFinite(n))
  );
}

/**
 * How often the leader tab may send a heartbeat (`POST /_lapse/extend`) while
 * the person is active: half the time between a touch and its warning, so
 * activity just after one heartbeat is reported well before the warning would
 * open; clamped to 5 s .. 5 min. With idle off, heartbeats are never needed;
 * the value (5 min) is then how often the leader re-reads the status.
 *
 * @example
 * import { heartbeatIntervalMs } from 'lapse/browser';
 * heartbeatIntervalMs({ idle: 120_000, absolute: 900_000, warn: 30_000 }); // 45000
 */
export function heartbeatIntervalMs(policy: StatusBody['policy']): number {
  return policy.idle === null
    ? 300_000
    : Math.min(300_000, Math.max(5_000, (policy.idle - policy.warn) / 2));
}
