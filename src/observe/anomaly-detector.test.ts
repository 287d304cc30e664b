import fc from 'fast-check';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Policy } from '../policy/types.js';
import { SessionAuthority, type Verdict } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import { MemoryStore } from '../store/memory-store.js';
import {
  type Anomaly,
  AnomalyDetector,
  type AnomalyDetectorOptions,
  gapVariation,
} from './anomaly-detector.js';
import { AuditLog } from './audit-log.js';
import { LapseMetrics } from './metrics.js';

const START = 1_800_000_000_000;

function policy(idleMs = 10_000, absoluteMs = 60_000): Policy {
  return {
    version: 1,
    comply: [],
    defaults: { idleMs, absoluteMs, warnMs: 2_000 },
    ceilings: {},
    rules: [],
    passive: [],
  };
}

function setup(options: Partial<AnomalyDetectorOptions> = {}, p: Policy = policy()) {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: p, store });
  const anomalies: Anomaly[] = [];
  const detector = new AnomalyDetector({
    clock,
    onAnomaly: (anomaly) => anomalies.push(anomaly),
    ...options,
  });
  const stop = detector.observeAuthority(authority);
  const kinds = () => anomalies.map((anomaly) => anomaly.kind);
  return { clock, authority, detector, anomalies, kinds, stop };
}

type OkVerdict = Extract<Verdict, { ok: true }>;

/** A real ok verdict for another session key (the detectors key on `idHash`). */
function asSession(verdict: OkVerdict, idHash: string): OkVerdict {
  return { ...verdict, record: { ...verdict.record, idHash } };
}

describe('AnomalyDetector: replayed_id', () => {
  it('flags a rotated id used again at once, once per subject per window', async () => {
    const { clock, authority, anomalies, kinds } = setup();
    const { id, record } = await authority.begin({ subject: 'alice' });
    const rotated = await authority.rotate(id);
    if (!rotated.ok) throw new Error('rotation failed');
    expect(await authority.check(id)).toMatchObject({ ok: false, retired: true });
    expect(anomalies).toEqual([
      {
        kind: 'replayed_id',
        level: 'warn',
        time: START,
        reason: 'rotated',
        session: { idHash: record.idHash, subject: 'alice', rule: 'defaults' },
        detail: { retired: true, count: 1, windowMs: 60_000 },
      },
    ]);
    await authority.check(id);
    clock.advance(59_999);
    await authority.check(id);
    expect(kinds()).toEqual(['replayed_id']);
    clock.advance(1);
    await authority.check(id);
    expect(kinds()).toEqual(['replayed_id', 'replayed_id']);
  });

  it('flags ids of ended sessions only when one subject presents more than the threshold in a window', async () => {
    const { clock, authority, anomalies } = setup({ replayThreshold: 3, replayWindowMs: 10_000 });
    const revoked = await authority.begin({ subject: 'alice' });
    await authority.revoke(revoked.id, 'admin');
    for (let i = 0; i < 3; i += 1) await authority.check(revoked.id);
    expect(anomalies).toEqual([]);
    clock.advance(10_000); // a new window: the count starts again
    for (let i = 0; i < 3; i += 1) await authority.check(revoked.id);
    expect(anomalies).toEqual([]);
    await authority.check(revoked.id);
    expect(anomalies).toEqual([
      expect.objectContaining({
        kind: 'replayed_id',
        reason: 'revoked',
        detail: { retired: false, count: 4, windowMs: 10_000 },
      }),
    ]);
    // An expired id counts for its subject too; never-issued ids and missing ones never count.
    const idle = await authority.begin({ subject: 'bob' });
    clock.advance(20_000);
    for (let i = 0; i < 4; i += 1) {
      await authority.check(idle.id);
      await authority.check(`${'Z'.repeat(42)}${i}`);
      await authority.check(undefined);
    }
    expect(anomalies.map((anomaly) => [anomaly.reason, anomaly.session?.subject])).toEqual([
      ['revoked', 'alice'],
      ['idle', 'bob'],
    ]);
  });

  it('remembers at most maxTracked subjects', async () => {
    const { authority, detector } = setup({ maxTracked: 3 });
    for (let i = 0; i < 10; i += 1) {
      const { id } = await authority.begin({ subject: `user${i}` });
      await authority.revoke(id);
      await authority.check(id);
    }
    expect(detector.tracked.replaySubjects).toBe(3);
  });
});

describe('AnomalyDetector: past_deadline', () => {
  it('reports at error level an ok verdict whose status is at or past its deadline', async () => {
    const { authority, detector, anomalies } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    const verdict = await authority.check(id);
    if (!verdict.ok) throw new Error('expected a live session');
    detector.observeVerdict(verdict, { passive: false });
    expect(anomalies).toEqual([]);
    const { status } = verdict;
    const idleAt = status.idleExpiresAt as number;
    detector.observeVerdict(
      { ...verdict, status: { ...status, now: idleAt - 1 } },
      { passive: true },
    );
    expect(anomalies).toEqual([]);
    detector.observeVerdict({ ...verdict, status: { ...status, now: idleAt } }, { passive: true });
    detector.observeVerdict(
      { ...verdict, status: { ...status, now: status.absoluteExpiresAt + 5, idleExpiresAt: null } },
      { passive: true },
    );
    expect(anomalies).toEqual([
      {
        kind: 'past_deadline',
        level: 'error',
        time: START,
        reason: 'idle',
        session: { idHash: verdict.record.idHash, subject: 'alice', rule: 'defaults' },
        detail: { statusNow: idleAt, endsAt: idleAt, overdueMs: 0 },
      },
      expect.objectContaining({
        kind: 'past_deadline',
        reason: 'absolute',
        detail: {
          statusNow: status.absoluteExpiresAt + 5,
          endsAt: status.absoluteExpiresAt,
          overdueMs: 5,
        },
      }),
    ]);
  });

  it('never fires for real verdicts, whatever the traffic and timing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            advanceMs: fc.integer({ min: 0, max: 12_000 }),
            action: fc.constantFrom('check', 'passive', 'extend', 'status'),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        async (steps) => {
          const { clock, authority, detector, kinds } = setup({}, policy(10_000, 30_000));
          const { id } = await authority.begin({ subject: 'alice' });
          for (const { advanceMs, action } of steps) {
            clock.advance(advanceMs);
            const verdict =
              action === 'extend'
                ? await authority.extend(id)
                : action === 'status'
                  ? await authority.status(id)
                  : await authority.check(id, {}, { passive: action === 'passive' });
            detector.observeVerdict(verdict, { passive: action !== 'check' });
          }
          expect(kinds()).not.toContain('past_deadline');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('AnomalyDetector: extension_storm', () => {
  it('flags more than stormMaxExtends extends of one session within the window, then stays quiet a window', async () => {
    const { clock, authority, anomalies, kinds } = setup(
      { stormMaxExtends: 10 },
      policy(3_600_000, 86_400_000),
    );
    const { id, record } = await authority.begin({ subject: 'alice' });
    const other = await authority.begin({ subject: 'bob' });
    for (let i = 0; i < 10; i += 1) {
      clock.advance(5_000);
      await authority.extend(id);
      await authority.extend(other.id);
    }
    expect(anomalies).toEqual([]);
    clock.advance(4_000); // 11 extends within 49 s
    await authority.extend(id);
    expect(anomalies).toEqual([
      {
        kind: 'extension_storm',
        level: 'warn',
        time: START + 54_000,
        reason: 'rate',
        session: { idHash: record.idHash, subject: 'alice', rule: 'defaults' },
        detail: { extends: 11, withinMs: 49_000, windowMs: 60_000 },
      },
    ]);
    for (let i = 0; i < 10; i += 1) {
      clock.advance(1_000);
      await authority.extend(id);
    }
    expect(anomalies).toHaveLength(1);
    // One window after the first report, the storm still counts 11 within 59 s: reported again.
    clock.advance(50_000);
    for (let i = 0; i < 11; i += 1) {
      expect(await authority.extend(id)).toMatchObject({ ok: true });
    }
    expect(kinds()).toEqual(['extension_storm', 'extension_storm']);
    expect(anomalies[1]).toMatchObject({
      time: START + 114_000,
      detail: { extends: 11, withinMs: 59_000, windowMs: 60_000 },
    });
  });

  it('never flags extends spaced at the allowed rate', async () => {
    const { clock, authority, kinds } = setup(
      { stormMaxExtends: 10, stormWindowMs: 60_000 },
      policy(3_600_000, 86_400_000),
    );
    const { id } = await authority.begin({ subject: 'alice' });
    for (let i = 0; i < 200; i += 1) {
      clock.advance(6_000); // exactly 10 per minute
      expect(await authority.extend(id)).toMatchObject({ ok: true });
    }
    expect(kinds()).toEqual([]);
  });

  it('remembers at most maxTracked sessions, and forgets a session when it ends', async () => {
    const { authority, detector } = setup({ maxTracked: 4 });
    const ids: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const { id } = await authority.begin({ subject: `user${i}` });
      ids.push(id);
      await authority.extend(id);
    }
    expect(detector.tracked.extendSessions).toBe(4);
    for (const id of ids.slice(-2)) await authority.revoke(id);
    expect(detector.tracked.extendSessions).toBe(2);
  });
});

describe('AnomalyDetector: clock_skew', () => {
  it('flags store and local clocks further apart than the threshold, once per episode', () => {
    const { clock, detector, anomalies } = setup();
    expect(detector.checkClockSkew(START + 2_000)).toBe(2_000);
    expect(detector.checkClockSkew(START - 2_000, START)).toBe(-2_000);
    expect(anomalies).toEqual([]);
    expect(detector.checkClockSkew(START + 2_001)).toBe(2_001);
    expect(detector.checkClockSkew(START + 9_000)).toBe(9_000);
    expect(anomalies).toEqual([
      {
        kind: 'clock_skew',
        level: 'warn',
        time: START,
        reason: 'store_ahead',
        detail: { skewMs: 2_001, thresholdMs: 2_000 },
      },
    ]);
    detector.checkClockSkew(START + 100);
    clock.advance(1_000);
    detector.checkClockSkew(START - 5_000);
    expect(anomalies.map((anomaly) => [anomaly.reason, anomaly.detail.skewMs])).toEqual([
      ['store_ahead', 2_001],
      ['store_behind', -6_000],
    ]);
  });

  it('takes its threshold from the options', () => {
    const { detector, kinds } = setup({ clockSkewThresholdMs: 100 });
    detector.checkClockSkew(START + 101);
    expect(kinds()).toEqual(['clock_skew']);
  });
});

describe('AnomalyDetector: automated_keepalive', () => {
  const K = 8;
  let base: OkVerdict;

  beforeAll(async () => {
    const { authority } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    const verdict = await authority.check(id);
    if (!verdict.ok) throw new Error('expected a live session');
    base = verdict;
  });

  /** Feed activity at START + each offset; returns after how many activities it flagged (or undefined). */
  function feed(offsets: readonly number[], options: Partial<AnomalyDetectorOptions> = {}) {
    const { clock, detector, anomalies } = setup(options);
    const flaggedAt: number[] = [];
    offsets.forEach((offset, index) => {
      clock.set(START + offset);
      const before = anomalies.length;
      detector.observeVerdict(base, { passive: false });
      if (anomalies.length > before) flaggedAt.push(index + 1);
    });
    return { flaggedAt, anomalies, detector };
  }

  const offsetsOf = (gaps: readonly number[]) => {
    const offsets = [0];
    for (const gap of gaps) offsets.push((offsets[offsets.length - 1] as number) + gap);
    return offsets;
  };

  /**
   * Human-like gaps: between 1 s and 30 min, each at least half again longer or
   * shorter than the one before (people never keep a beat), plus jitter. Any
   * K consecutive such gaps vary by a coefficient of at least 0.2.
   */
  const humanGaps = fc
    .tuple(
      fc.integer({ min: 1_000, max: 1_800_000 }),
      fc.array(
        fc.record({
          ratio: fc.double({ min: 1.5, max: 3, noNaN: true }),
          longer: fc.boolean(),
          jitterMs: fc.integer({ min: 0, max: 250 }),
        }),
        { minLength: K, maxLength: 60 },
      ),
    )
    .map(([first, steps]) => {
      const gaps = [first];
      for (const { ratio, longer, jitterMs } of steps) {
        const last = gaps[gaps.length - 1] as number;
        const up = last * ratio;
        const down = last / ratio;
        const next = (longer && up <= 1_800_000) || down < 1_250 ? up : down;
        gaps.push(Math.round(next) + (next === up ? jitterMs : -jitterMs));
      }
      return gaps;
    });

  it('never flags jittered, human-like gaps', () => {
    fc.assert(
      fc.property(humanGaps, (gaps) => {
        expect(feed(offsetsOf(gaps)).flaggedAt).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('always flags exact-period activity once, on the Kth gap and not before', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000, max: 3_600_000 }),
        fc.integer({ min: K, max: 40 }),
        (periodMs, gapCount) => {
          const { flaggedAt, anomalies } = feed(offsetsOf(new Array(gapCount).fill(periodMs)));
          expect(flaggedAt).toEqual([K + 1]);
          expect(anomalies[0]).toMatchObject({
            kind: 'automated_keepalive',
            level: 'warn',
            reason: 'regular',
            detail: { samples: K, meanGapMs: periodMs, cv: 0 },
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('flags near-perfect periods (±1 % jitter) too', () => {
    fc.assert(
      fc.property(
        // From 2 s: a 1 s period jittered below 1 s would be one burst (keepaliveMinGapMs).
        fc.integer({ min: 2_000, max: 3_600_000 }),
        fc.array(fc.double({ min: -0.01, max: 0.01, noNaN: true }), {
          minLength: K,
          maxLength: 40,
        }),
        (periodMs, jitters) => {
          const gaps = jitters.map((jitter) => Math.round(periodMs * (1 + jitter)));
          expect(feed(offsetsOf(gaps)).flaggedAt).toEqual([K + 1]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('ignores passive traffic, counts a burst as one activity, and re-arms after irregular gaps', () => {
    const { clock, detector, anomalies } = setup();
    for (let i = 0; i < 30; i += 1) {
      clock.set(START + i * 30_000);
      detector.observeVerdict(base, { passive: true });
    }
    expect(anomalies).toEqual([]);
    // A page and its assets every 30 s: one activity per burst.
    const regular = (from: number, count: number) => {
      for (let i = 0; i < count; i += 1) {
        for (const burstMs of [0, 120, 400, 990]) {
          clock.set(from + i * 30_000 + burstMs);
          detector.observeVerdict(base, { passive: false });
        }
      }
    };
    regular(START + 1_000_000, K + 1);
    expect(anomalies).toHaveLength(1);
    regular(START + 1_000_000 + (K + 1) * 30_000, 5);
    expect(anomalies).toHaveLength(1);
    // A long pause breaks the rhythm; a new regular run flags again.
    regular(START + 10_000_000, K + 1);
    expect(anomalies).toHaveLength(2);
  });

  it('takes the sample count and threshold from the options', () => {
    const sixteen = feed(offsetsOf(new Array(20).fill(60_000)), { keepaliveSamples: 16 });
    expect(sixteen.flaggedAt).toEqual([17]);
    // Alternating 50 s / 70 s gaps vary by 0.1667: regular for 0.2, not for the default 0.1.
    const alternating = offsetsOf(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 50_000 : 70_000)),
    );
    expect(feed(alternating).flaggedAt).toEqual([]);
    expect(feed(alternating, { keepaliveMaxCv: 0.2 }).flaggedAt).toEqual([K + 1]);
  });

  it('remembers at most maxTracked sessions, each with K + 1 times', () => {
    const { clock, detector } = setup({ maxTracked: 5 });
    for (let i = 0; i < 50; i += 1) {
      clock.advance(1_000);
      detector.observeVerdict(asSession(base, `session-${i}`), { passive: false });
    }
    expect(detector.tracked.activitySessions).toBe(5);
  });
});

describe('AnomalyDetector', () => {
  it('computes the coefficient of variation of the gaps', () => {
    expect(gapVariation([0, 10, 20, 30])).toBe(0);
    expect(gapVariation([0, 10, 30])).toBeCloseTo(5 / 15, 12);
    expect(gapVariation([5])).toBeNaN();
    expect(gapVariation([5, 5])).toBeNaN();
  });

  it('checks its options at construction, naming the option', () => {
    const onAnomaly = () => undefined;
    const invalid = (option: string) =>
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option });
    expect(() => new AnomalyDetector({ onAnomaly, keepaliveSamples: 7 })).toThrow(
      invalid('keepaliveSamples'),
    );
    expect(() => new AnomalyDetector({ onAnomaly, keepaliveMaxCv: 1 })).toThrow(
      invalid('keepaliveMaxCv'),
    );
    expect(() => new AnomalyDetector({ onAnomaly, maxTracked: 0 })).toThrow(invalid('maxTracked'));
    expect(() => new AnomalyDetector({ onAnomaly, stormWindowMs: -1 })).toThrow(
      invalid('stormWindowMs'),
    );
    expect(() => new AnomalyDetector({ onAnomaly, replayThreshold: 2.5 })).toThrow(
      invalid('replayThreshold'),
    );
    expect(() => new AnomalyDetector({} as unknown as AnomalyDetectorOptions)).toThrow(
      invalid('onAnomaly'),
    );
  });

  it('never lets a failing onAnomaly break enforcement', async () => {
    const onError = vi.fn();
    const { authority } = setup({
      onError,
      onAnomaly: () => {
        throw new Error('sink down');
      },
    });
    const { id } = await authority.begin({ subject: 'alice' });
    const rotated = await authority.rotate(id);
    expect(rotated.ok).toBe(true);
    expect(await authority.check(id)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'sink down' }));
  });

  it('stops listening once unsubscribed', async () => {
    const { authority, kinds, stop } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    await authority.rotate(id);
    stop();
    await authority.check(id);
    expect(kinds()).toEqual([]);
  });

  it('feeds metrics and the audit log through onAnomaly', async () => {
    const clock = new ManualClock(START);
    const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
    const authority = new SessionAuthority({ policy: policy(), store });
    const metrics = new LapseMetrics();
    const writes: string[] = [];
    const audit = new AuditLog({ destination: { write: (line) => void writes.push(line) }, clock });
    const detector = new AnomalyDetector({
      clock,
      onAnomaly: (anomaly) => {
        metrics.recordAnomaly(anomaly.kind);
        audit.recordAnomaly(anomaly);
      },
    });
    detector.observeAuthority(authority);
    const { id, record } = await authority.begin({ subject: 'alice' });
    await authority.rotate(id);
    await authority.check(id);
    detector.checkClockSkew(START + 3_000);
    const text = await metrics.metricsText();
    expect(text).toContain('lapse_anomalies_total{kind="replayed_id"} 1\n');
    expect(text).toContain('lapse_anomalies_total{kind="clock_skew"} 1\n');
    const lines = writes.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({
        event: 'anomaly.replayed_id',
        level: 'warn',
        session: audit.sessionRef(record.idHash),
        subject: 'alice',
        reason: 'rotated',
      }),
      expect.objectContaining({ event: 'anomaly.clock_skew', session: null }),
    ]);
    expect(writes.join('')).not.toContain(record.idHash);
    expect(writes.join('')).not.toContain(id);
  });
});
