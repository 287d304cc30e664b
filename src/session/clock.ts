/**
 * Where "now" comes from. Everything time-dependent takes a clock, so tests
 * drive time by hand instead of sleeping.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** The machine's wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that moves only when told: for tests and simulation.
 *
 * @example
 * import { ManualClock } from 'lapse';
 * const clock = new ManualClock(0);
 * clock.advance(60_000);
 */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Move forward by `ms` (a negative `ms` models a clock stepped back). */
  advance(ms: number): void {
    this.#now += ms;
  }

  /** Jump to an absolute time. */
  set(epochMs: number): void {
    this.#now = epochMs;
  }
}
