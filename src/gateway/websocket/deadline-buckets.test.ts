import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, LapseError } from '../../errors.js';
import { DeadlineBuckets } from './deadline-buckets.js';

const START = Date.UTC(2026, 0, 1, 9);

describe('DeadlineBuckets', () => {
  let fired: Array<{ at: number; items: string[] }>;
  let buckets: DeadlineBuckets<string>;

  beforeEach(() => {
    vi.useFakeTimers({ now: START });
    fired = [];
    buckets = new DeadlineBuckets<string>({
      onDue: (items) => fired.push({ at: Date.now(), items: [...items].sort() }),
    });
  });

  afterEach(() => {
    buckets.clear();
    vi.useRealTimers();
  });

  it('fires an item no earlier than its deadline and within one bucket after it', () => {
    const deadlines = [1, 249, 250, 251, 999, 1_000, 1_234];
    for (const [i, offset] of deadlines.entries()) buckets.add(`item${i}`, START + offset);
    vi.advanceTimersByTime(2_000);
    const firedAt = new Map<string, number>();
    for (const { at, items } of fired) for (const item of items) firedAt.set(item, at);
    for (const [i, offset] of deadlines.entries()) {
      const at = firedAt.get(`item${i}`);
      expect(at).toBeDefined();
      expect(at as number).toBeGreaterThanOrEqual(START + offset);
      expect(at as number).toBeLessThan(START + offset + 250);
    }
    expect(buckets.size).toBe(0);
  });

  it('calls onDue once per bucket, with every item of that bucket', () => {
    buckets.add('a', START + 10);
    buckets.add('b', START + 200);
    buckets.add('c', START + 260);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([
      { at: START + 250, items: ['a', 'b'] },
      { at: START + 500, items: ['c'] },
    ]);
  });

  it('keeps one timer however many items and buckets wait', () => {
    for (let i = 0; i < 1_000; i += 1) buckets.add(`item${i}`, START + 100 + i * 7);
    expect(buckets.size).toBe(1_000);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(3_000);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(buckets.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never fires a deleted item', () => {
    buckets.add('a', START + 100);
    buckets.add('b', START + 100);
    expect(buckets.delete('a')).toBe(true);
    expect(buckets.delete('a')).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([{ at: START + 250, items: ['b'] }]);
  });

  it('stops its timer when the last item is deleted', () => {
    buckets.add('a', START + 600);
    buckets.delete('a');
    vi.advanceTimersByTime(1_000);
    expect(fired).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('moves an item that is added again, earlier or later', () => {
    buckets.add('later', START + 100);
    buckets.add('later', START + 900);
    buckets.add('earlier', START + 900);
    buckets.add('earlier', START + 300);
    expect(buckets.size).toBe(2);
    vi.advanceTimersByTime(2_000);
    expect(fired).toEqual([
      { at: START + 500, items: ['earlier'] },
      { at: START + 1_000, items: ['later'] },
    ]);
  });

  it('fires an item added at a past deadline on the next turn', () => {
    vi.advanceTimersByTime(1_000);
    buckets.add('late', START);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(0);
    expect(fired).toEqual([{ at: START + 1_000, items: ['late'] }]);
  });

  it('lets onDue add items again without firing them in the same turn', () => {
    let rounds = 0;
    const again = new DeadlineBuckets<string>({
      onDue: (items) => {
        rounds += 1;
        for (const item of items) again.add(item, Date.now());
      },
    });
    again.add('x', START + 100);
    vi.advanceTimersByTime(250);
    expect(rounds).toBe(1);
    expect(again.has('x')).toBe(true);
    again.clear();
  });

  it('uses an injected clock and bucket width', () => {
    let now = START;
    const seen: number[][] = [];
    const coarse = new DeadlineBuckets<number>({
      bucketMs: 1_000,
      now: () => now,
      onDue: (items) => seen.push(items),
    });
    coarse.add(1, START + 1);
    coarse.add(2, START + 999);
    expect(vi.getTimerCount()).toBe(1);
    now = START + 1_000;
    vi.advanceTimersByTime(1_000);
    expect(seen).toEqual([[1, 2]]);
    coarse.clear();
  });

  it("skips an item that an earlier bucket's callback deleted, when both fall due at once", () => {
    let now = START;
    const seen: string[][] = [];
    const late = new DeadlineBuckets<string>({
      now: () => now,
      onDue: (items) => {
        seen.push(items);
        if (items.includes('a')) late.delete('b');
      },
    });
    late.add('a', START + 10);
    late.add('b', START + 300);
    late.add('c', START + 400);
    // The process was busy: by the time the timer runs, three buckets are due.
    now = START + 1_000;
    vi.advanceTimersByTime(250);
    expect(seen).toEqual([['a'], ['c']]);
    expect(late.size).toBe(0);
  });

  it('never fires an item with an infinite deadline', () => {
    buckets.add('never', Number.POSITIVE_INFINITY);
    expect(buckets.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('clear forgets everything and stops the timer', () => {
    buckets.add('a', START + 100);
    buckets.add('b', START + 5_000);
    buckets.clear();
    expect(buckets.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(fired).toEqual([]);
  });

  it('rejects a bad bucket width at construction, naming the option', () => {
    let caught: unknown;
    try {
      new DeadlineBuckets({ onDue: () => {}, bucketMs: 0 });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LapseError);
    expect((caught as LapseError).code).toBe(ErrorCodes.OPTION_INVALID);
  });
});
