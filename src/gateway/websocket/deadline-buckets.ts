import { OptionError } from '../../errors.js';

/** Options of {@link DeadlineBuckets}. */
export interface DeadlineBucketsOptions<T> {
  /** Called once per bucket whose time has come, with the items in it (never empty). */
  readonly onDue: (items: T[]) => void;
  /** Width of one bucket, ms: an item fires at most this long after its deadline. Default: 250. */
  readonly bucketMs?: number;
  /** Where "now" comes from, epoch ms. Default: `Date.now`. */
  readonly now?: () => number;
}

/** A binary min-heap of bucket indexes; stale entries are skipped by the reader. */
class IndexHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): number | undefined {
    return this.#items[0];
  }

  push(value: number): void {
    const items = this.#items;
    items.push(value);
    let child = items.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      const above = items[parent] as number;
      if (above <= value) break;
      items[child] = above;
      child = parent;
    }
    items[child] = value;
  }

  pop(): number | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let parent = 0;
    for (;;) {
      const left = parent * 2 + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const smaller =
        right < items.length && (items[right] as number) < (items[left] as number) ? right : left;
      if ((items[smaller] as number) >= last) break;
      items[parent] = items[smaller] as number;
      parent = smaller;
    }
    items[parent] = last;
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }
}

/**
 * Coarse timers for many deadlines: items are kept by deadline rounded UP to a
 * bucket, and ONE `setTimeout` (unref'd) waits for the earliest bucket, however
 * many items and buckets there are. An item never fires before its deadline,
 * and at most one bucket after it. Re-adding an item moves it.
 *
 * @example
 * import { DeadlineBuckets } from './deadline-buckets.js';
 * const timers = new DeadlineBuckets<string>({ onDue: (ids) => console.log('due', ids) });
 * timers.add('a', Date.now() + 1_000);
 * timers.delete('a'); // never fires
 */
export class DeadlineBuckets<T> {
  readonly #onDue: (items: T[]) => void;
  readonly #bucketMs: number;
  readonly #now: () => number;
  /** Bucket index (ceil(deadline / bucketMs)) to its items. */
  readonly #buckets = new Map<number, Set<T>>();
  /** Item to the index of the bucket it sits in. */
  readonly #bucketOf = new Map<T, number>();
  /** Indexes of buckets, possibly stale (emptied buckets are skipped when read). */
  readonly #heap = new IndexHeap();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The bucket index the timer waits for. */
  #timerIndex = Number.POSITIVE_INFINITY;

  constructor(options: DeadlineBucketsOptions<T>) {
    if (typeof options?.onDue !== 'function') {
      throw new OptionError('onDue', 'pass a function called with the items that are due');
    }
    const bucketMs = options.bucketMs ?? 250;
    if (!Number.isInteger(bucketMs) || bucketMs < 1) {
      throw new OptionError('bucketMs', 'use a whole number of milliseconds >= 1, e.g. 250');
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new OptionError('now', 'pass a function returning epoch milliseconds, e.g. Date.now');
    }
    this.#onDue = options.onDue;
    this.#bucketMs = bucketMs;
    this.#now = options.now ?? Date.now;
  }

  /** How many items wait. */
  get size(): number {
    return this.#bucketOf.size;
  }

  /** Whether `item` waits. */
  has(item: T): boolean {
    return this.#bucketOf.has(item);
  }

  /** Fire `item` once `deadlineMs` has come (within one bucket after). Moves an item already waiting. */
  add(item: T, deadlineMs: number): void {
    const index = Number.isFinite(deadlineMs)
      ? Math.ceil(deadlineMs / this.#bucketMs)
      : Number.POSITIVE_INFINITY;
    const current = this.#bucketOf.get(item);
    if (current === index) return;
    if (current !== undefined) this.#remove(item, current);
    // An infinite deadline never fires: nothing to wait for.
    if (index === Number.POSITIVE_INFINITY) return;
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(index, bucket);
      this.#heap.push(index);
    }
    bucket.add(item);
    this.#bucketOf.set(item, index);
    if (index < this.#timerIndex) this.#schedule();
  }

  /** Forget `item`; returns whether it was waiting. */
  delete(item: T): boolean {
    const index = this.#bucketOf.get(item);
    if (index === undefined) return false;
    this.#remove(item, index);
    return true;
  }

  /** Forget every item and stop the timer. */
  clear(): void {
    this.#buckets.clear();
    this.#bucketOf.clear();
    this.#heap.clear();
    this.#stopTimer();
  }

  #remove(item: T, index: number): void {
    this.#bucketOf.delete(item);
    const bucket = this.#buckets.get(index);
    if (bucket === undefined) return;
    bucket.delete(item);
    // The heap entry goes stale and is dropped when it reaches the top; the timer may
    // then fire for nothing, once, and wait for the next bucket.
    if (bucket.size === 0) this.#buckets.delete(index);
  }

  /** The earliest live bucket index, dropping stale heap entries on the way. */
  #earliest(): number | undefined {
    for (;;) {
      const index = this.#heap.peek();
      if (index === undefined || this.#buckets.has(index)) return index;
      this.#heap.pop();
    }
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerIndex = Number.POSITIVE_INFINITY;
  }

  #schedule(): void {
    this.#stopTimer();
    const index = this.#earliest();
    if (index === undefined) return;
    const delayMs = Math.max(0, index * this.#bucketMs - this.#now());
    this.#timerIndex = index;
    this.#timer = setTimeout(() => this.#fire(), delayMs);
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerIndex = Number.POSITIVE_INFINITY;
    const now = this.#now();
    // Fix the due buckets first: an item a callback adds at a past deadline fires on
    // the next turn, not in this loop (no endless synchronous loop).
    const dueIndexes: number[] = [];
    for (;;) {
      const index = this.#earliest();
      if (index === undefined || index * this.#bucketMs > now) break;
      this.#heap.pop();
      dueIndexes.push(index);
    }
    let failure: { error: unknown } | undefined;
    for (const index of dueIndexes) {
      // Read each bucket only when its turn comes: an earlier callback may have moved items.
      const bucket = this.#buckets.get(index);
      if (bucket === undefined) continue;
      this.#buckets.delete(index);
      for (const item of bucket) this.#bucketOf.delete(item);
      try {
        this.#onDue([...bucket]);
      } catch (error) {
        failure ??= { error };
      }
    }
    this.#schedule();
    if (failure !== undefined) throw failure.error;
  }
}
