import { ErrorCodes, LapseError } from '../errors.js';
import { quote } from './issue-messages.js';

/**
 * The textual form of a duration: whole number and unit, nothing else.
 * Shared by the parser and the JSON Schema, so editors and the loader agree.
 */
export const DURATION_PATTERN = '^[0-9]{1,15}(ms|s|m|h|d)$';

const DURATION_RE = new RegExp(DURATION_PATTERN);

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration could not be parsed; `input` is what was given. */
export class DurationError extends LapseError {
  readonly input: unknown;

  constructor(input: unknown, message: string) {
    super(ErrorCodes.DURATION_INVALID, message);
    this.input = input;
  }
}

/**
 * Parse a policy duration into whole milliseconds.
 *
 * Accepted: `500ms`, `30s`, `15m`, `8h`, `1d` (a whole number and one unit), or a
 * non-negative number of seconds (`90`, `1.5`). The result must be a whole, safe
 * number of milliseconds. Anything else throws a {@link DurationError}.
 *
 * @example
 * import { parseDuration } from 'lapse';
 * parseDuration('15m'); // 900000
 * parseDuration(90);    // 90000
 */
export function parseDuration(input: unknown): number {
  let ms: number;
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new DurationError(
        input,
        `duration must be a non-negative number of seconds, got ${input}`,
      );
    }
    ms = input * 1_000;
    // 0.1 * 1000 is 100.00000000000001: round away float noise, then insist on whole ms.
    const rounded = Math.round(ms);
    if (Math.abs(ms - rounded) > 1e-6) {
      throw new DurationError(input, `duration ${input}s is not a whole number of milliseconds`);
    }
    ms = rounded;
  } else if (typeof input === 'string') {
    const match = DURATION_RE.exec(input);
    if (match === null) {
      throw new DurationError(
        input,
        `invalid duration ${quote(input)}: use a whole number with a unit (500ms, 30s, 15m, 8h, 1d) or a number of seconds`,
      );
    }
    const unit = match[1] as keyof typeof UNIT_MS;
    ms = Number(input.slice(0, input.length - unit.length)) * UNIT_MS[unit];
  } else {
    throw new DurationError(
      input,
      `duration must be a string such as "15m" or a number of seconds, got ${input === null ? 'null' : typeof input}`,
    );
  }
  if (!Number.isSafeInteger(ms)) {
    throw new DurationError(input, `duration ${String(input)} is too large`);
  }
  return ms;
}

/**
 * Parse an idle timeout: a duration, or `off` (returned as `null`: no idle timeout).
 *
 * @example
 * import { parseIdleDuration } from 'lapse';
 * parseIdleDuration('off'); // null
 */
export function parseIdleDuration(input: unknown): number | null {
  return input === 'off' ? null : parseDuration(input);
}

const FORMAT_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', UNIT_MS.d],
  ['h', UNIT_MS.h],
  ['m', UNIT_MS.m],
  ['s', UNIT_MS.s],
];

/**
 * Format milliseconds the way a person writes them: `1h30m`, `15m`, `500ms`;
 * `null` (idle off) formats as `off`.
 *
 * @example
 * import { formatDuration } from 'lapse';
 * formatDuration(5_400_000); // '1h30m'
 */
export function formatDuration(ms: number | null): string {
  if (ms === null) return 'off';
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of FORMAT_UNITS) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0) out += `${rest}ms`;
  return out;
}
