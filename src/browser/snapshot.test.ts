import { describe, expect, it } from 'vitest';
import {
  endedSnapshot,
  heartbeatIntervalMs,
  isStatusBody,
  nextChangeAt,
  STARTING_SNAPSHOT,
  snapshotAt,
} from './snapshot.js';
import type { StatusBody } from './types.js';

const T0 = Date.UTC(2030, 0, 15, 9, 0, 0);
const MINUTE = 60_000;

/** A session touched at T0: idle 2 min, absolute 15 min from T0, warn 30 s. */
function status(overrides: Partial<StatusBody> = {}): StatusBody {
  const idleExpiresAt =
    overrides.idleExpiresAt === undefined ? T0 + 2 * MINUTE : overrides.idleExpiresAt;
  const absoluteExpiresAt = overrides.absoluteExpiresAt ?? T0 + 15 * MINUTE;
  const policy = overrides.policy ?? { idle: 2 * MINUTE, absolute: 15 * MINUTE, warn: 30_000 };
  const earliest =
    idleExpiresAt === null ? absoluteExpiresAt : Math.min(idleExpiresAt, absoluteExpiresAt);
  return {
    state: 'active',
    now: T0,
    idleExpiresAt,
    absoluteExpiresAt,
    warnAt: earliest - policy.warn,
    policy,
    ...overrides,
  };
}

describe('snapshotAt', () => {
  it('is active before the warning, with whole seconds left rounded down', () => {
    const snapshot = snapshotAt(status(), T0 + 500);
    expect(snapshot).toEqual({
      phase: 'active',
      remainingSeconds: 119,
      endsBy: 'idle',
      endsAt: T0 + 2 * MINUTE,
      absoluteExpiresAt: T0 + 15 * MINUTE,
      canExtend: true,
    });
  });

  it('is in the warning at exactly warnAt, not a millisecond before', () => {
    const s = status();
    expect(snapshotAt(s, s.warnAt - 1).phase).toBe('active');
    expect(snapshotAt(s, s.warnAt).phase).toBe('warning');
    expect(snapshotAt(s, s.warnAt).remainingSeconds).toBe(30);
  });

  it('is ended at exactly the deadline (half-open), with the deadline that ended it', () => {
    const s = status();
    const before = snapshotAt(s, T0 + 2 * MINUTE - 1);
    expect(before.phase).toBe('warning');
    expect(before.remainingSeconds).toBe(0);
    const at = snapshotAt(s, T0 + 2 * MINUTE);
    expect(at).toMatchObject({
      phase: 'ended',
      remainingSeconds: 0,
      endReason: 'idle',
      canExtend: false,
    });
  });

  it('never counts below zero seconds', () => {
    expect(snapshotAt(status(), T0 + 60 * MINUTE).remainingSeconds).toBe(0);
  });

  it('ends by the absolute deadline when it comes first, and cannot be extended then', () => {
    const s = status({ idleExpiresAt: T0 + 2 * MINUTE, absoluteExpiresAt: T0 + MINUTE });
    const snapshot = snapshotAt(s, T0 + 45_000);
    expect(snapshot).toMatchObject({
      phase: 'warning',
      endsBy: 'absolute',
      endsAt: T0 + MINUTE,
      canExtend: false,
    });
    expect(snapshotAt(s, T0 + MINUTE)).toMatchObject({ phase: 'ended', endReason: 'absolute' });
  });

  it('lets the absolute deadline win a tie, as the server does', () => {
    const s = status({ idleExpiresAt: T0 + MINUTE, absoluteExpiresAt: T0 + MINUTE });
    expect(snapshotAt(s, T0).endsBy).toBe('absolute');
    expect(snapshotAt(s, T0 + MINUTE).endReason).toBe('absolute');
  });

  it('ends by the absolute deadline when idle is off', () => {
    const s = status({
      idleExpiresAt: null,
      policy: { idle: null, absolute: 15 * MINUTE, warn: 30_000 },
    });
    expect(snapshotAt(s, T0)).toMatchObject({
      endsBy: 'absolute',
      canExtend: false,
      remainingSeconds: 900,
    });
  });

  it('cannot extend when extending now would not move the end', () => {
    // Just touched: now + idle is the deadline itself.
    expect(snapshotAt(status(), T0).canExtend).toBe(false);
    expect(snapshotAt(status(), T0 + 1).canExtend).toBe(true);
  });

  it('carries the rule message', () => {
    expect(snapshotAt(status({ message: 'Admins: 60 s' }), T0).message).toBe('Admins: 60 s');
  });
});

describe('endedSnapshot', () => {
  it('keeps the deadlines and says why', () => {
    const ended = endedSnapshot(snapshotAt(status(), T0), 'logout');
    expect(ended).toMatchObject({
      phase: 'ended',
      endReason: 'logout',
      remainingSeconds: 0,
      canExtend: false,
      endsAt: T0 + 2 * MINUTE,
    });
    expect(endedSnapshot(STARTING_SNAPSHOT, 'missing')).toMatchObject({
      phase: 'ended',
      endReason: 'missing',
      endsAt: 0,
    });
  });
});

describe('nextChangeAt', () => {
  it('is the warning start while active', () => {
    expect(nextChangeAt(T0 + 90_000, T0 + 120_000, T0)).toBe(T0 + 90_000);
  });

  it('is the instant the shown second drops during the warning', () => {
    const endsAt = T0 + 120_000;
    // 29.5 s left shows 29; it shows 28 once less than 29 s are left.
    expect(nextChangeAt(T0 + 90_000, endsAt, endsAt - 29_500)).toBe(endsAt - 29_000 + 1);
    // Exactly 29 s left shows 29; 1 ms later it shows 28.
    expect(nextChangeAt(T0 + 90_000, endsAt, endsAt - 29_000)).toBe(endsAt - 29_000 + 1);
    expect(snapshotAt(status(), endsAt - 29_000 + 1).remainingSeconds).toBe(28);
  });

  it('is the end itself during the last second', () => {
    const endsAt = T0 + 120_000;
    expect(nextChangeAt(T0 + 90_000, endsAt, endsAt - 999)).toBe(endsAt);
    expect(nextChangeAt(T0 + 90_000, endsAt, endsAt - 1000)).toBe(endsAt - 999);
  });
});

describe('heartbeatIntervalMs', () => {
  it('is half the time from a touch to its warning', () => {
    expect(heartbeatIntervalMs({ idle: 2 * MINUTE, absolute: 15 * MINUTE, warn: 30_000 })).toBe(
      45_000,
    );
  });

  it('is at least 5 s and at most 5 min', () => {
    expect(heartbeatIntervalMs({ idle: 10_000, absolute: MINUTE, warn: 5_000 })).toBe(5_000);
    expect(heartbeatIntervalMs({ idle: 60 * MINUTE, absolute: 600 * MINUTE, warn: MINUTE })).toBe(
      5 * MINUTE,
    );
    expect(heartbeatIntervalMs({ idle: null, absolute: 600 * MINUTE, warn: MINUTE })).toBe(
      5 * MINUTE,
    );
  });
});

describe('isStatusBody', () => {
  it('accepts a status and refuses what would make NaN deadlines', () => {
    expect(isStatusBody(status())).toBe(true);
    expect(isStatusBody(status({ idleExpiresAt: null }))).toBe(true);
    expect(isStatusBody(null)).toBe(false);
    expect(isStatusBody({ error: 'session_expired' })).toBe(false);
    expect(isStatusBody({ ...status(), warnAt: '12' })).toBe(false);
    expect(isStatusBody({ ...status(), now: Number.NaN })).toBe(false);
    expect(isStatusBody({ ...status(), policy: null })).toBe(false);
  });
});
