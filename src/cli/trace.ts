import { ErrorCodes, LapseError } from '../errors.js';
import { DurationError, parseDuration } from '../policy/duration.js';

/** The kinds of event a trace line may hold (SPEC section 7). */
export const TRACE_KINDS = ['request', 'passive', 'extend', 'ws'] as const;

/** One kind of trace event. */
export type TraceKind = (typeof TRACE_KINDS)[number];

/** One event of a simulation trace: `at` is ms after sign-in. */
export interface TraceEvent {
  readonly at: number;
  readonly kind: TraceKind;
  /** 1-based line in the trace file. */
  readonly line: number;
}

/** A trace file is malformed; `line` says where. */
export class TraceError extends LapseError {
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, message: string) {
    super(ErrorCodes.TRACE_INVALID, `${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

/**
 * Parse a JSON Lines trace: one `{"at":"4m","kind":"request"}` a line, blank
 * lines ignored, times never going backwards.
 */
export function parseTrace(text: string, file: string): TraceEvent[] {
  const events: TraceEvent[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const lineNumber = index + 1;
    if (raw.trim().length === 0) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new TraceError(
        file,
        lineNumber,
        'not a JSON object; expected {"at":"4m","kind":"request"}',
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TraceError(
        file,
        lineNumber,
        'expected an object such as {"at":"4m","kind":"request"}',
      );
    }
    const { at, kind, ...rest } = value as Record<string, unknown>;
    const unknownKeys = Object.keys(rest);
    if (unknownKeys.length > 0) {
      throw new TraceError(
        file,
        lineNumber,
        `unknown key ${JSON.stringify(unknownKeys[0])}; a line has "at" and "kind"`,
      );
    }
    if (typeof kind !== 'string' || !(TRACE_KINDS as readonly string[]).includes(kind)) {
      throw new TraceError(file, lineNumber, `"kind" must be one of ${TRACE_KINDS.join(', ')}`);
    }
    let atMs: number;
    try {
      atMs = parseDuration(at);
    } catch (error) {
      if (error instanceof DurationError)
        throw new TraceError(file, lineNumber, `"at": ${error.message}`);
      throw error;
    }
    const previous = events.at(-1);
    if (previous !== undefined && atMs < previous.at) {
      throw new TraceError(
        file,
        lineNumber,
        `"at" goes back in time (line ${previous.line} is later)`,
      );
    }
    events.push({ at: atMs, kind: kind as TraceKind, line: lineNumber });
  }
  return events;
}
