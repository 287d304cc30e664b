import type { Cluster, Redis } from 'ioredis';
import { OptionError } from '../../errors.js';
import type { Clock } from '../../session/clock.js';

/**
 * Options of {@link RedisStore}.
 *
 * @example
 * import { Redis } from 'ioredis';
 * import { RedisStore } from 'lapse/redis';
 * const redis = new Redis({ sentinels: [{ host: 's1', port: 26379 }], name: 'mymaster',
 *   enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 1000 });
 * const store = new RedisStore({ redis, keyPrefix: 'lapse:', retainEndedMs: 24 * 60 * 60 * 1000 });
 */
export interface RedisStoreOptions {
  /**
   * The Redis to use: an ioredis `Redis` (standalone, or Sentinel through its
   * `sentinels` option), an ioredis `Cluster`, or a `redis://` / `rediss://`
   * URL. A client passed in stays yours (`close()` leaves it open); give it
   * `enableOfflineQueue: false`, a small `maxRetriesPerRequest` and a
   * `commandTimeout` so calls fail fast when Redis is away.
   */
  readonly redis: Redis | Cluster | string;
  /** Prefix of every key and of the revocation channel. Default: `lapse:`. */
  readonly keyPrefix?: string;
  /** How long an ended session is kept (with its reason) after it can no longer matter. Default: 24 h. */
  readonly retainEndedMs?: number;
  /** How often the built-in timer sweeps; `0` turns the timer off (call `sweep()` yourself). Default: 1000. */
  readonly sweepIntervalMs?: number;
  /**
   * For tests only: decide with this clock instead of Redis `TIME`. Without
   * it (the default) every decision reads Redis's clock inside its script, so
   * instances with skewed clocks agree.
   */
  readonly clock?: Clock;
}

/**
 * The validated, frozen configuration of a {@link RedisStore} (the client or
 * URL is not kept here: a URL may hold a password).
 *
 * @example
 * import { RedisStore } from 'lapse/redis';
 * const { keyPrefix, sweepIntervalMs } = new RedisStore({ redis: 'redis://127.0.0.1:6379' }).options;
 */
export interface RedisStoreConfig {
  readonly keyPrefix: string;
  readonly retainEndedMs: number;
  readonly sweepIntervalMs: number;
  /** `undefined`: Redis `TIME` is the clock. */
  readonly clock: Clock | undefined;
}

/** What `validateOptions` hands the store: the config, and where Redis is. */
export interface ValidatedOptions {
  readonly config: RedisStoreConfig;
  readonly redis: Redis | Cluster | string;
}

const KNOWN_OPTIONS = new Set(['redis', 'keyPrefix', 'retainEndedMs', 'sweepIntervalMs', 'clock']);

/** Common misspellings, so the error can name the option that was meant. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  client: 'redis',
  url: 'redis',
  redisUrl: 'redis',
  connection: 'redis',
  cluster: 'redis',
  prefix: 'keyPrefix',
  keyspace: 'keyPrefix',
  retainMs: 'retainEndedMs',
  retentionMs: 'retainEndedMs',
  retainEnded: 'retainEndedMs',
  sweepInterval: 'sweepIntervalMs',
  intervalMs: 'sweepIntervalMs',
  sweepMs: 'sweepIntervalMs',
  now: 'clock',
};

const DEFAULT_PREFIX = 'lapse:';
const DEFAULT_RETAIN_MS = 24 * 60 * 60 * 1000;
const DEFAULT_SWEEP_MS = 1000;
const MAX_PREFIX_LENGTH = 128;
/** Largest delay `setInterval` honours (Node clamps anything above to 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

function checkWholeMs(option: string, value: unknown, min: number, max: number, fix: string) {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(option, `got ${String(value)}; ${fix}`);
  }
}

function isClient(value: unknown): value is Redis | Cluster {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Record<string, unknown>;
  return (
    typeof client.defineCommand === 'function' &&
    typeof client.duplicate === 'function' &&
    typeof client.status === 'string'
  );
}

function checkRedis(value: unknown): Redis | Cluster | string {
  if (typeof value === 'string') {
    let protocol: string;
    try {
      protocol = new URL(value).protocol;
    } catch {
      throw new OptionError('redis', 'not a URL; use redis://host:6379 or rediss://host:6380');
    }
    if (protocol !== 'redis:' && protocol !== 'rediss:') {
      throw new OptionError(
        'redis',
        `unsupported protocol ${protocol}; use redis:// or rediss:// (for Sentinel or Cluster pass an ioredis client)`,
      );
    }
    return value;
  }
  if (isClient(value)) return value;
  throw new OptionError(
    'redis',
    'expected an ioredis Redis or Cluster, or a redis:// URL such as redis://127.0.0.1:6379',
  );
}

/** Check every option once, at construction; the config comes back frozen. */
export function validateOptions(options: unknown): ValidatedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new OptionError(
      'options',
      "expected an object such as { redis: 'redis://127.0.0.1:6379' }",
    );
  }
  for (const key of Object.keys(options)) {
    if (KNOWN_OPTIONS.has(key)) continue;
    const hint = OPTION_HINTS[key];
    throw new OptionError(
      key,
      hint === undefined
        ? `unknown option; RedisStore takes ${[...KNOWN_OPTIONS].join(', ')}`
        : `unknown option, use ${hint} instead`,
    );
  }
  const given = options as Partial<RedisStoreOptions>;
  if (given.redis === undefined) {
    throw new OptionError(
      'redis',
      "missing; pass an ioredis client or a URL such as 'redis://127.0.0.1:6379'",
    );
  }
  const redis = checkRedis(given.redis);
  const keyPrefix = given.keyPrefix ?? DEFAULT_PREFIX;
  if (
    typeof keyPrefix !== 'string' ||
    keyPrefix.length === 0 ||
    keyPrefix.length > MAX_PREFIX_LENGTH
  ) {
    throw new OptionError(
      'keyPrefix',
      `got ${String(keyPrefix)}; use a non-empty string of at most ${MAX_PREFIX_LENGTH} characters, such as 'lapse:'`,
    );
  }
  const retainEndedMs = given.retainEndedMs ?? DEFAULT_RETAIN_MS;
  checkWholeMs(
    'retainEndedMs',
    retainEndedMs,
    0,
    Number.MAX_SAFE_INTEGER,
    'use a whole number of milliseconds >= 0 (every record needs a finite purge time)',
  );
  const sweepIntervalMs = given.sweepIntervalMs ?? DEFAULT_SWEEP_MS;
  checkWholeMs(
    'sweepIntervalMs',
    sweepIntervalMs,
    0,
    MAX_TIMER_MS,
    `use a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, or 0 to sweep only when sweep() is called`,
  );
  const clock = given.clock;
  if (
    clock !== undefined &&
    (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function')
  ) {
    throw new OptionError(
      'clock',
      'expected an object with a now() method returning epoch ms (tests only; leave it out to use Redis TIME)',
    );
  }
  return {
    redis,
    config: Object.freeze({ keyPrefix, retainEndedMs, sweepIntervalMs, clock }),
  };
}
