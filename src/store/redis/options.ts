import type { Cluster, Redis } from 'ioredis';
import { OptionError } from '../../errors.js';
import type { Clock } from '../../session/clock.js';
import {
  COMMON_OPTION_HINTS,
  checkClock,
  checkRetainEndedMs,
  checkSweepIntervalMs,
  DEFAULT_RETAIN_ENDED_MS,
  DEFAULT_SWEEP_INTERVAL_MS,
  rejectUnknownOptions,
  requireOptionsObject,
} from '../store-options.js';

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
  ...COMMON_OPTION_HINTS,
  client: 'redis',
  url: 'redis',
  redisUrl: 'redis',
  connection: 'redis',
  cluster: 'redis',
  prefix: 'keyPrefix',
  keyspace: 'keyPrefix',
};

const DEFAULT_PREFIX = 'lapse:';
const MAX_PREFIX_LENGTH = 128;

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
  requireOptionsObject(options, "{ redis: 'redis://127.0.0.1:6379' }");
  rejectUnknownOptions(options, KNOWN_OPTIONS, OPTION_HINTS, 'RedisStore');
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
  const retainEndedMs = given.retainEndedMs ?? DEFAULT_RETAIN_ENDED_MS;
  checkRetainEndedMs(retainEndedMs);
  const sweepIntervalMs = given.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
  checkSweepIntervalMs(sweepIntervalMs);
  const clock = given.clock;
  if (clock !== undefined) checkClock(clock, ' (tests only; leave it out to use Redis TIME)');
  return {
    redis,
    config: Object.freeze({ keyPrefix, retainEndedMs, sweepIntervalMs, clock }),
  };
}
