import { OptionError } from '../../errors.js';
import { type Clock, systemClock } from '../../session/clock.js';
import {
  COMMON_OPTION_HINTS,
  checkClock,
  checkRetainEndedMs,
  checkSweepIntervalMs,
  checkWholeMs,
  DEFAULT_RETAIN_ENDED_MS,
  DEFAULT_SWEEP_INTERVAL_MS,
  rejectUnknownOptions,
  requireOptionsObject,
} from '../store-options.js';

/**
 * Options of {@link SqliteStore}.
 *
 * @example
 * import { SqliteStore, type SqliteStoreOptions } from 'lapse/sqlite';
 * const options: SqliteStoreOptions = { path: '/var/lib/lapse/sessions.db', retainEndedMs: 3_600_000 };
 * const store = new SqliteStore(options);
 */
export interface SqliteStoreOptions {
  /** The database file, created if missing; `':memory:'` for a private in-memory database. Default: `./lapse.db`. */
  readonly path?: string;
  /** Where "now" comes from; every process on one file should share a time source. Default: the system clock. */
  readonly clock?: Clock;
  /** How long an ended session is kept (with its reason) after it can no longer matter. Default: 24 h. */
  readonly retainEndedMs?: number;
  /** How often the built-in timer sweeps; `0` turns the timer off (call `sweep()` yourself). Default: 1000. */
  readonly sweepIntervalMs?: number;
  /** How often an instance with revoke listeners reads the revocation log (at most 1000). Default: 250. */
  readonly revokePollMs?: number;
}

/**
 * The validated, frozen configuration of a {@link SqliteStore}.
 *
 * @example
 * import { SqliteStore } from 'lapse/sqlite';
 * const { path, revokePollMs } = new SqliteStore({ path: ':memory:' }).options;
 */
export interface SqliteStoreConfig {
  readonly path: string;
  readonly clock: Clock;
  readonly retainEndedMs: number;
  readonly sweepIntervalMs: number;
  readonly revokePollMs: number;
}

const DEFAULTS: SqliteStoreConfig = Object.freeze({
  path: './lapse.db',
  clock: systemClock,
  retainEndedMs: DEFAULT_RETAIN_ENDED_MS,
  sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS,
  revokePollMs: 250,
});

const KNOWN_OPTIONS = new Set(Object.keys(DEFAULTS));

/** Common misspellings and options of other stores, so the error can name what was meant. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  ...COMMON_OPTION_HINTS,
  file: 'path',
  filename: 'path',
  dbPath: 'path',
  database: 'path',
  location: 'path',
  revokePoll: 'revokePollMs',
  pollMs: 'revokePollMs',
  revokePollIntervalMs: 'revokePollMs',
  bucketMs: 'SqliteStore has no buckets (an index on the due time orders its sweep); remove it',
};

/** SPEC 3.6: a revocation reaches every instance within a second. */
const MAX_REVOKE_POLL_MS = 1000;

/** Check every option once, fill the defaults, and freeze the result. */
export function validateSqliteOptions(options: unknown): SqliteStoreConfig {
  requireOptionsObject(options, "{ path: './lapse.db' }, or nothing for the defaults");
  rejectUnknownOptions(options, KNOWN_OPTIONS, OPTION_HINTS, 'SqliteStore');
  const given = options as SqliteStoreOptions;
  const path = given.path ?? DEFAULTS.path;
  if (typeof path !== 'string' || path.trim() === '' || path.includes('\0')) {
    throw new OptionError(
      'path',
      `got ${JSON.stringify(path)}; use a file path such as './lapse.db', or ':memory:' for a private in-memory database`,
    );
  }
  const clock = given.clock ?? DEFAULTS.clock;
  checkClock(clock);
  const retainEndedMs = given.retainEndedMs ?? DEFAULTS.retainEndedMs;
  checkRetainEndedMs(retainEndedMs);
  const sweepIntervalMs = given.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs;
  checkSweepIntervalMs(sweepIntervalMs);
  const revokePollMs = given.revokePollMs ?? DEFAULTS.revokePollMs;
  checkWholeMs(
    'revokePollMs',
    revokePollMs,
    1,
    MAX_REVOKE_POLL_MS,
    `use a whole number of milliseconds from 1 to ${MAX_REVOKE_POLL_MS}, so every instance hears a revocation within a second`,
  );
  return Object.freeze({ path, clock, retainEndedMs, sweepIntervalMs, revokePollMs });
}
