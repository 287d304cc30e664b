import { OptionError } from '../errors.js';
import type { Clock } from '../session/clock.js';

/** Largest delay `setInterval` honours (Node clamps anything above to 1 ms). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Default `retainEndedMs` of every store: 24 h. */
export const DEFAULT_RETAIN_ENDED_MS = 24 * 60 * 60 * 1000;

/** Default `sweepIntervalMs` of every store: 1 s. */
export const DEFAULT_SWEEP_INTERVAL_MS = 1000;

/**
 * Misspellings of the options every store takes. A value naming a known option
 * reads "use it instead"; any other value is said as it is.
 */
export const COMMON_OPTION_HINTS: Readonly<Record<string, string>> = Object.freeze({
  retainMs: 'retainEndedMs',
  retentionMs: 'retainEndedMs',
  retainEnded: 'retainEndedMs',
  sweepInterval: 'sweepIntervalMs',
  intervalMs: 'sweepIntervalMs',
  sweepMs: 'sweepIntervalMs',
  now: 'clock',
});

/**
 * Throw unless `options` is a plain (non-array) object.
 * @param example what to suggest instead, after "expected an object such as ".
 * @throws OptionError for option `options`.
 */
export function requireOptionsObject(options: unknown, example: string): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError('options', `expected an object such as ${example}`);
  }
}

/**
 * Throw for the first key of `options` that is not in `known`, naming the
 * option meant when `hints` knows the key, else listing what `storeName` takes.
 * @param hints key to the option meant (said as "use it instead") or to advice said as it is.
 * @throws OptionError for the unknown option.
 */
export function rejectUnknownOptions(
  options: object,
  known: ReadonlySet<string>,
  hints: Readonly<Record<string, string>>,
  storeName: string,
): void {
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const hint = Object.hasOwn(hints, key) ? hints[key] : undefined;
    throw new OptionError(
      key,
      hint === undefined
        ? `unknown option; ${storeName} takes ${[...known].join(', ')}`
        : `unknown option, ${known.has(hint) ? `use ${hint} instead` : hint}`,
    );
  }
}

/**
 * Throw unless `value` is a {@link Clock}.
 * @param advice what follows "returning epoch ms" in the message.
 * @throws OptionError for option `clock`.
 */
export function checkClock(
  value: unknown,
  advice = ', such as systemClock or new ManualClock()',
): asserts value is Clock {
  const clock = value as Partial<Clock> | null;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new OptionError(
      'clock',
      `expected an object with a now() method returning epoch ms${advice}`,
    );
  }
}

/**
 * Throw unless `value` is a whole number of milliseconds from `min` to `max`.
 * @param fix how to put it right, after "got <value>; ".
 * @throws OptionError for `option`.
 */
export function checkWholeMs(
  option: string,
  value: unknown,
  min: number,
  max: number,
  fix: string,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(option, `got ${String(value)}; ${fix}`);
  }
}

/**
 * Throw unless `value` is a valid `retainEndedMs`: whole ms >= 0.
 * @throws OptionError for option `retainEndedMs`.
 */
export function checkRetainEndedMs(value: unknown): asserts value is number {
  checkWholeMs(
    'retainEndedMs',
    value,
    0,
    Number.MAX_SAFE_INTEGER,
    'use a whole number of milliseconds >= 0 (every record needs a finite purge time)',
  );
}

/**
 * Throw unless `value` is a valid `sweepIntervalMs`: whole ms up to {@link MAX_TIMER_MS}, `0` for no timer.
 * @throws OptionError for option `sweepIntervalMs`.
 */
export function checkSweepIntervalMs(value: unknown): asserts value is number {
  checkWholeMs(
    'sweepIntervalMs',
    value,
    0,
    MAX_TIMER_MS,
    `use a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, or 0 to sweep only when sweep() is called`,
  );
}
