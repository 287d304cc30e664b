/**
 * lapse/redis: the Redis session store, for many gateway instances sharing
 * one Redis (standalone, Sentinel or Cluster). Needs `ioredis` 5.
 *
 * @example
 * import { RedisStore } from 'lapse/redis';
 * const store = new RedisStore({ redis: 'redis://127.0.0.1:6379', keyPrefix: 'lapse:' });
 * await store.ready();
 *
 * @packageDocumentation
 */

export type { RedisStoreConfig, RedisStoreOptions } from './options.js';
export { RedisStore } from './redis-store.js';
