import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import { MemoryStore } from '../store/memory-store.js';
import { type EndsBucket, EndsTimeline } from './ends-timeline.js';
import { END_REASONS, type MetricEndReason } from './metrics.js';

const MINUTE = 60_000;
/** A whole minute, so bucket starts are easy to read. */
const START = 1_800_000_000_000;

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 5 * MINUTE, absoluteMs: 30 * MINUTE, warnMs: MINUTE },
  ceilings: {},
  rules: [],
  passive: [],
};

function total(buckets: readonly EndsBucket[]): number {
  return buckets.reduce((sum, bucket) => sum + bucket.idle + bucket.absolute + bucket.revoked, 0);
}

/** The bucket that starts at `start`, or a failure naming it. */
function bucketAt(buckets: readonly EndsBucket[], start: number): EndsBucket {
  const bucket = buckets.find((candidate) => candidate.start === start);
  if (bucket === undefined) throw new Error(`no bucket starts at ${start}`);
  return bucket;
}

describe('EndsTimeline.buckets', () => {
  it('gives the last 60 minutes by default, one bucket a minute, oldest first, zeros included', () => {
    const clock = new ManualClock(START + 12_345);
    const timeline = new EndsTimeline({ clock });
    expect(timeline.bucketMs).toBe(MINUTE);
    const buckets = timeline.buckets();
    expect(buckets).toHaveLength(60);
    expect(buckets[0]).toEqual({ start: START - 59 * MINUTE, idle: 0, absolute: 0, revoked: 0 });
    expect(buckets[59]).toEqual({ start: START, idle: 0, absolute: 0, revoked: 0 });
    buckets.forEach((bucket, index) => {
      expect(bucket.start).toBe(START - (59 - index) * MINUTE);
    });
  });

  it('aligns every bucket to bucketMs and keeps exactly bucketCount, whatever the time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (bucketMs, bucketCount, now) => {
          const timeline = new EndsTimeline({ bucketMs, bucketCount, clock: new ManualClock(now) });
          const buckets = timeline.buckets();
          expect(buckets).toHaveLength(bucketCount);
          const newest = buckets[bucketCount - 1] as EndsBucket;
          expect(newest.start).toBeLessThanOrEqual(now);
          expect(now).toBeLessThan(newest.start + bucketMs);
          expect(Math.abs(newest.start % bucketMs)).toBe(0); // -0 before the epoch
          expect(buckets.map((bucket) => bucket.start)).toEqual(
            Array.from(
              { length: bucketCount },
              (_, index) => newest.start - (bucketCount - 1 - index) * bucketMs,
            ),
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('EndsTimeline.record', () => {
  it("counts an end in the bucket of the clock's now, by reason", () => {
    const clock = new ManualClock(START);
    const timeline = new EndsTimeline({ clock });
    timeline.record('idle'); // the first millisecond of the minute
    clock.set(START + MINUTE - 1); // the last millisecond of the same minute
    timeline.record('idle');
    timeline.record('revoked');
    clock.set(START + MINUTE); // the next minute
    timeline.record('absolute');
    const buckets = timeline.buckets();
    expect(bucketAt(buckets, START)).toEqual({ start: START, idle: 2, absolute: 0, revoked: 1 });
    expect(bucketAt(buckets, START + MINUTE)).toEqual({
      start: START + MINUTE,
      idle: 0,
      absolute: 1,
      revoked: 0,
    });
    expect(total(buckets)).toBe(4);
  });

  it('drops a bucket once it falls out of the window, and not a minute before', () => {
    const clock = new ManualClock(START);
    const timeline = new EndsTimeline({ clock, bucketCount: 5 });
    timeline.record('revoked');
    clock.set(START + 4 * MINUTE + MINUTE - 1); // START is now the oldest of 5 buckets
    expect(timeline.buckets()[0]).toEqual({ start: START, idle: 0, absolute: 0, revoked: 1 });
    clock.set(START + 5 * MINUTE);
    const buckets = timeline.buckets();
    expect(buckets[0]?.start).toBe(START + MINUTE);
    expect(total(buckets)).toBe(0);
    // Going back in time does not bring forgotten counts back.
    clock.set(START);
    expect(total(timeline.buckets())).toBe(0);
  });

  it('stays a window of bucketCount buckets after ends in 10,000 distinct minutes', () => {
    const clock = new ManualClock(START);
    const timeline = new EndsTimeline({ clock });
    for (let minute = 0; minute < 10_000; minute += 1) {
      clock.set(START + minute * MINUTE + (minute % 7) * 1_000);
      timeline.record(END_REASONS[minute % 3] as MetricEndReason);
      if (minute % 1_000 === 999) {
        const buckets = timeline.buckets();
        expect(buckets).toHaveLength(60);
        // One end per minute, in each of the 60 minutes of the window.
        expect(buckets.map((bucket) => bucket.idle + bucket.absolute + bucket.revoked)).toEqual(
          Array.from({ length: 60 }, () => 1),
        );
      }
    }
    // The newest bucket holds minute 9,999 alone: END_REASONS[9_999 % 3], idle.
    expect(timeline.buckets().at(-1)).toEqual({
      start: START + 9_999 * MINUTE,
      idle: 1,
      absolute: 0,
      revoked: 0,
    });
  });

  it('refuses a reason that is not an end', () => {
    const timeline = new EndsTimeline({ clock: new ManualClock(START) });
    for (const reason of ['rotated', 'logout', '', 'IDLE']) {
      expect(() => timeline.record(reason as MetricEndReason)).toThrow(
        expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'reason' }),
      );
    }
    expect(total(timeline.buckets())).toBe(0);
  });

  it('counts exactly what a reference model counts, per bucket of the window', () => {
    const event = fc.record({
      advanceMs: fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 5_000 })),
      reason: fc.constantFrom(...END_REASONS),
      look: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.array(event, { maxLength: 80 }),
        fc.integer({ min: 0, max: 10_000 }),
        (bucketMs, bucketCount, start, events, finalAdvanceMs) => {
          const clock = new ManualClock(start);
          const timeline = new EndsTimeline({ bucketMs, bucketCount, clock });
          const seen: { time: number; reason: MetricEndReason }[] = [];
          /** The reference: every event whose time falls in a window bucket, by bucket and reason. */
          const expected = (): EndsBucket[] => {
            const newest = Math.floor(clock.now() / bucketMs) * bucketMs;
            return Array.from({ length: bucketCount }, (_, index) => {
              const bucketStart = newest - (bucketCount - 1 - index) * bucketMs;
              const inBucket = seen.filter(
                ({ time }) => time >= bucketStart && time < bucketStart + bucketMs,
              );
              const count = (reason: MetricEndReason) =>
                inBucket.filter((seenEvent) => seenEvent.reason === reason).length;
              return {
                start: bucketStart,
                idle: count('idle'),
                absolute: count('absolute'),
                revoked: count('revoked'),
              };
            });
          };
          for (const { advanceMs, reason, look } of events) {
            clock.advance(advanceMs);
            timeline.record(reason);
            seen.push({ time: clock.now(), reason });
            if (look) expect(timeline.buckets()).toEqual(expected());
          }
          clock.advance(finalAdvanceMs);
          expect(timeline.buckets()).toEqual(expected());
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('EndsTimeline.observeAuthority', () => {
  function setup() {
    const clock = new ManualClock(START);
    const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
    const authority = new SessionAuthority({ policy: POLICY, store });
    const timeline = new EndsTimeline({ clock, bucketCount: 60 });
    const stop = timeline.observeAuthority(authority);
    return { clock, authority, timeline, stop };
  }

  it('counts idle and absolute expiries and revocations in the minute this process hears of them', async () => {
    const { clock, authority, timeline } = setup();
    const idle = await authority.begin({ subject: 'idle' });
    const absolute = await authority.begin({ subject: 'absolute' });
    const logout = await authority.begin({ subject: 'logout' });
    await authority.begin({ subject: 'everywhere' });
    await authority.begin({ subject: 'everywhere' });

    clock.set(START + 2 * MINUTE + 5_000);
    await authority.revoke(logout.id, 'logout');
    await authority.revokeSubject('everywhere');

    // Keep `absolute` busy until its absolute deadline (30 min) passes.
    for (let minute = 4; minute <= 28; minute += 4) {
      clock.set(START + minute * MINUTE);
      expect((await authority.check(absolute.id)).ok).toBe(true);
    }
    clock.set(START + 31 * MINUTE);
    await authority.sweep(); // ends `absolute` (absolute) and `idle` (idle, long overdue)
    await authority.check(idle.id); // already ended: not counted twice

    const buckets = timeline.buckets();
    expect(bucketAt(buckets, START + 2 * MINUTE)).toMatchObject({ revoked: 3, idle: 0 });
    expect(bucketAt(buckets, START + 31 * MINUTE)).toMatchObject({
      idle: 1,
      absolute: 1,
      revoked: 0,
    });
    expect(total(buckets)).toBe(5);
  });

  it('counts an expiry noticed by a request once, and not a rotation or a rejection', async () => {
    const { clock, authority, timeline } = setup();
    const session = await authority.begin({ subject: 'alice' });
    const rotated = await authority.rotate(session.id);
    expect(rotated.ok).toBe(true);
    await authority.check(session.id); // the retired id: rejected, ends nothing
    await authority.check('A'.repeat(43)); // unknown
    expect(total(timeline.buckets())).toBe(0);
    clock.set(START + 6 * MINUTE);
    if (!rotated.ok) throw new Error('rotation failed');
    await authority.check(rotated.id);
    await authority.check(rotated.id);
    await authority.sweep();
    expect(bucketAt(timeline.buckets(), START + 6 * MINUTE)).toMatchObject({
      idle: 1,
      absolute: 0,
      revoked: 0,
    });
    expect(total(timeline.buckets())).toBe(1);
  });

  it('stops counting when told to', async () => {
    const { authority, timeline, stop } = setup();
    const session = await authority.begin({ subject: 'alice' });
    stop();
    await authority.revoke(session.id);
    expect(total(timeline.buckets())).toBe(0);
  });
});

describe('new EndsTimeline', () => {
  it.each([
    ['bucketMs', '0', { bucketMs: 0 }],
    ['bucketMs', 'negative', { bucketMs: -60_000 }],
    ['bucketMs', 'fractional', { bucketMs: 1.5 }],
    ['bucketMs', 'NaN', { bucketMs: Number.NaN }],
    ['bucketMs', 'infinite', { bucketMs: Number.POSITIVE_INFINITY }],
    ['bucketMs', 'a string', { bucketMs: '60000' }],
    ['bucketCount', '0', { bucketCount: 0 }],
    ['bucketCount', 'above 10,000', { bucketCount: 10_001 }],
    ['bucketCount', 'fractional', { bucketCount: 2.5 }],
    ['bucketCount', 'NaN', { bucketCount: Number.NaN }],
  ])('refuses %s %s with an OptionError naming it', (option, _what, options) => {
    expect(() => new EndsTimeline(options as never)).toThrow(
      expect.objectContaining({ name: 'OptionError', code: 'LAPSE_OPTION_INVALID', option }),
    );
  });

  it('takes the extremes of bucketCount', () => {
    const clock = new ManualClock(START);
    expect(new EndsTimeline({ clock, bucketCount: 1 }).buckets()).toHaveLength(1);
    expect(new EndsTimeline({ clock, bucketCount: 10_000, bucketMs: 1 }).buckets()).toHaveLength(
      10_000,
    );
  });
});
