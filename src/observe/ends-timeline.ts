import { OptionError } from '../errors.js';
import type { SessionAuthority } from '../session/authority.js';
import { type Clock, systemClock } from '../session/clock.js';
import { END_REASONS, type MetricEndReason } from './metrics.js';

/** One bucket of {@link EndsTimeline.buckets}: sessions ended in `[start, start + bucketMs)`. */
export interface EndsBucket extends Readonly<Record<MetricEndReason, number>> {
  /** Epoch ms, a multiple of `bucketMs`. */
  readonly start: number;
}

/** Options of {@link EndsTimeline}. */
export interface EndsTimelineOptions {
  /** Width of one bucket, ms. Default: 60,000 (one minute). */
  readonly bucketMs?: number;
  /** How many buckets are kept (the newest one included). Default: 60. */
  readonly bucketCount?: number;
  /** Where "now" comes from. Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * Session ends by reason (`idle`, `absolute`, `revoked`) over time, in fixed
 * buckets: what the dashboard's chart draws. Memory is `bucketCount` buckets,
 * whatever the traffic. Counted when this process hears of an end (a request,
 * its sweep, a revocation through it), like `lapse_sessions_ended_total`.
 *
 * @example
 * import { EndsTimeline } from 'lapse/admin';
 * const timeline = new EndsTimeline();
 * timeline.observeAuthority(lapse.authority);
 * timeline.buckets(); // 60 buckets, oldest first
 */
export class EndsTimeline {
  readonly #bucketMs: number;
  readonly #count: number;
  readonly #clock: Clock;
  /** Bucket start → counts; only buckets with an end are stored. */
  readonly #counts = new Map<number, Record<MetricEndReason, number>>();

  constructor(options: EndsTimelineOptions = {}) {
    const bucketMs = options.bucketMs ?? 60_000;
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 1) {
      throw new OptionError(
        'bucketMs',
        `expected a whole number of ms >= 1, got ${String(bucketMs)}`,
      );
    }
    const bucketCount = options.bucketCount ?? 60;
    if (!Number.isSafeInteger(bucketCount) || bucketCount < 1 || bucketCount > 10_000) {
      throw new OptionError(
        'bucketCount',
        `expected a whole number 1..10000, got ${String(bucketCount)}`,
      );
    }
    this.#bucketMs = bucketMs;
    this.#count = bucketCount;
    this.#clock = options.clock ?? systemClock;
  }

  /** Width of one bucket, ms. */
  get bucketMs(): number {
    return this.#bucketMs;
  }

  /** Count one end now. */
  record(reason: MetricEndReason): void {
    if (!END_REASONS.includes(reason)) {
      throw new OptionError('reason', `expected one of ${END_REASONS.join(', ')}, got ${reason}`);
    }
    const start = this.#startOf(this.#clock.now());
    let counts = this.#counts.get(start);
    if (counts === undefined) {
      counts = { idle: 0, absolute: 0, revoked: 0 };
      this.#counts.set(start, counts);
      this.#forgetBefore(start - (this.#count - 1) * this.#bucketMs);
    }
    counts[reason] += 1;
  }

  /** Count an authority's expiries and revocations. Returns a function that stops listening. */
  observeAuthority(authority: Pick<SessionAuthority, 'on'>): () => void {
    const stops = [
      authority.on('expire', ({ reason }) => this.record(reason)),
      authority.on('revoke', () => this.record('revoked')),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  }

  /** Every bucket of the window ending now, oldest first, zeros included. */
  buckets(): EndsBucket[] {
    const newest = this.#startOf(this.#clock.now());
    const oldest = newest - (this.#count - 1) * this.#bucketMs;
    this.#forgetBefore(oldest);
    const buckets: EndsBucket[] = [];
    for (let start = oldest; start <= newest; start += this.#bucketMs) {
      const counts = this.#counts.get(start);
      buckets.push({
        start,
        idle: counts?.idle ?? 0,
        absolute: counts?.absolute ?? 0,
        revoked: counts?.revoked ?? 0,
      });
    }
    return buckets;
  }

  #startOf(time: number): number {
    return Math.floor(time / this.#bucketMs) * this.#bucketMs;
  }

  #forgetBefore(oldest: number): void {
    for (const start of this.#counts.keys()) {
      if (start < oldest) this.#counts.delete(start);
    }
  }
}
