import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, LapseError } from '../errors.js';
import {
  DURATION_PATTERN,
  DurationError,
  formatDuration,
  parseDuration,
  parseIdleDuration,
} from './duration.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Runs `parse` and reports what happened, for properties that accept either outcome. */
function outcome(parse: () => unknown): 'ok' | 'invalid' {
  try {
    const ms = parse();
    expect(Number.isSafeInteger(ms)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(0);
    return 'ok';
  } catch (error) {
    expect(error).toBeInstanceOf(LapseError);
    expect((error as LapseError).code).toBe(ErrorCodes.DURATION_INVALID);
    return 'invalid';
  }
}

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['0ms', 0],
    ['30s', 30_000],
    ['15m', 900_000],
    ['8h', 28_800_000],
    ['1d', 86_400_000],
    ['007m', 420_000],
    [0, 0],
    [90, 90_000],
    [1.5, 1_500],
    [0.1, 100],
    [0.001, 1],
  ] as const)('reads %j as %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['empty string', ''],
    ['a bare number in a string', '15'],
    ['an unknown unit', '15x'],
    ['an upper-case unit', '15M'],
    ['a space before the unit', '15 m'],
    ['leading whitespace', ' 15m'],
    ['a trailing newline', '15m\n'],
    ['a compound duration', '1h30m'],
    ['a fraction with a unit', '1.5h'],
    ['a negative string', '-5m'],
    ['a plus sign', '+5m'],
    ['sixteen digits', '1234567890123456ms'],
    ['a negative number', -1],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['less than a millisecond', 0.0001],
    ['a number too large for whole milliseconds', Number.MAX_SAFE_INTEGER],
    ['a digit string too large in days', '999999999999999d'],
    ['off (only for idle)', 'off'],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
    ['an object', { m: 15 }],
    ['an array', ['15m']],
    ['a bigint', 15n],
  ])('rejects %s with LAPSE_DURATION_INVALID', (_label, input) => {
    expect(() => parseDuration(input)).toThrow(DurationError);
    try {
      parseDuration(input);
    } catch (error) {
      expect((error as DurationError).code).toBe(ErrorCodes.DURATION_INVALID);
      expect((error as DurationError).input).toBe(input);
    }
  });

  it('returns a safe non-negative integer or throws LAPSE_DURATION_INVALID for any string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), (input) => {
        outcome(() => parseDuration(input));
      }),
      { numRuns: 500 },
    );
  });

  it('returns a safe non-negative integer or throws LAPSE_DURATION_INVALID for any number', () => {
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer(), fc.maxSafeNat()), (input) => {
        outcome(() => parseDuration(input));
      }),
      { numRuns: 500 },
    );
  });

  it('returns a safe non-negative integer or throws LAPSE_DURATION_INVALID for anything at all', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withNullPrototype: true }), (input) => {
        outcome(() => parseDuration(input));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts every string of the published pattern unless it is too large', () => {
    const pattern = new RegExp(DURATION_PATTERN);
    fc.assert(
      fc.property(fc.stringMatching(pattern), (input) => {
        const result = outcome(() => parseDuration(input));
        if (result === 'invalid') {
          expect(() => parseDuration(input)).toThrow(/too large/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseIdleDuration', () => {
  it('reads off as null: no idle timeout', () => {
    expect(parseIdleDuration('off')).toBeNull();
  });

  it.each(['OFF', 'Off', false, 'none', ''])('rejects %j', (input) => {
    expect(() => parseIdleDuration(input)).toThrow(DurationError);
  });

  it('parses everything else like parseDuration', () => {
    expect(parseIdleDuration('15m')).toBe(900_000);
    expect(parseIdleDuration(30)).toBe(30_000);
  });
});

describe('formatDuration', () => {
  it.each([
    [null, 'off'],
    [0, '0s'],
    [500, '500ms'],
    [900_000, '15m'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [90_061_001, '1d1h1m1s1ms'],
  ] as const)('formats %j as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips through parseDuration whenever it prints a single unit', () => {
    const pattern = new RegExp(DURATION_PATTERN);
    let singleUnit = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(...(Object.keys(UNIT_MS) as (keyof typeof UNIT_MS)[])),
        (count, unit) => {
          const ms = count * UNIT_MS[unit];
          const text = formatDuration(ms);
          if (!pattern.test(text)) return;
          singleUnit++;
          expect(parseDuration(text)).toBe(ms);
        },
      ),
      { numRuns: 500 },
    );
    expect(singleUnit).toBeGreaterThan(50);
  });

  it.each([
    ['1ms', 1],
    ['999ms', 999],
    ['59s', 59_000],
    ['59m', 3_540_000],
    ['23h', 82_800_000],
    ['365d', 31_536_000_000],
  ] as const)('prints %s for %i ms, which parses back', (text, ms) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});
