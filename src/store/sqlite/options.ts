import { OptionError } from '../../errors.js';
import { type Clock, systemClock } from '../../session/clock.js';

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
  retainEndedMs: 24 * 60 * 60 * 1000,
  sweepIntervalMs: 1000,
  revokePollMs: 250,
});

const KNOWN_OPTIONS = new Set(Object.keys(DEFAULTS));

/** Common misspellings and options of other stores, so the error can name what was meant. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  file: 'use path instead',
  filename: 'use path instead',
  dbPath: 'use path instead',
  database: 'use path instead',
  location: 'use path instead',
  retainMs: 'use retainEndedMs instead',
  retentionMs: 'use retainEndedMs instead',
  retainEnded: 'use retainEndedMs instead',
  sweepInterval: 'use sweepIntervalMs instead',
  intervalMs: 'use sweepIntervalMs instead',
  sweepMs: 'use sweepIntervalMs instead',
  revokePoll: 'use revokePollMs instead',
  pollMs: 'use revokePollMs instead',
  revokePollIntervalMs: 'use revokePollMs instead',
  now: 'use clock instead',
  bucketMs: 'SqliteStore has no buckets (an index on the due time orders its sweep); remove it',
};

/** Largest delay `setInterval` honours (Node clamps anything above to 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** SPEC 3.6: a revocation reaches every instance within a second. */
const MAX_REVOKE_POLL_MS = 1000;

function checkWholeMs(option: string, value: unknown, min: number, max: number, fix: string) {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(option, `got ${String(value)}; ${fix}`);
  }
}

/** Check every option once, fill the defaults, and freeze the result. */
export function validateSqliteOptions(options: unknown): SqliteStoreConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError(
      'options',
      "expected an object such as { path: './lapse.db' }, or nothing for the defaults",
    );
  }
  for (const key of Object.keys(options)) {
    if (KNOWN_OPTIONS.has(key)) continue;
    const hint = OPTION_HINTS[key];
    throw new OptionError(
      key,
      hint === undefined
        ? `unknown option; SqliteStore takes ${[...KNOWN_OPTIONS].join(', ')}`
        : `unknown option, ${hint}`,
    );
  }
  const given = options as SqliteStoreOptions;
  const path = given.path ?? DEFAULTS.path;
  if (typeof path !== 'string' || path.trim() === '' || path.includes('\0')) {
    throw new OptionError(
      'path',
      `got ${JSON.stringify(path)}; use a file path such as './lapse.db', or ':memory:' for a private in-memory database`,
    );
  }
  const clock = given.clock ?? DEFAULTS.clock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new OptionError(
      'clock',
      'expected an object with a now() method returning epoch ms, such as systemClock or new ManualClock()',
    );
  }
  const retainEndedMs = given.retainEndedMs ?? DEFAULTS.retainEndedMs;
  checkWholeMs(
    'retainEndedMs',
    retainEndedMs,
    0,
    Number.MAX_SAFE_INTEGER,
    'use a whole number of milliseconds >= 0 (every record needs a finite purge time)',
  );
  const sweepIntervalMs = given.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs;
  checkWholeMs(
    'sweepIntervalMs',
    sweepIntervalMs,
    0,
    MAX_TIMER_MS,
    `use a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, or 0 to sweep only when sweep() is called`,
  );
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
