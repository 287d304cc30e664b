import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { ManualClock } from '../src/session/clock.js';
import { RedisStore } from '../src/store/redis/index.js';
import { deleteKeysUnder, REDIS_URL, requireRedis } from './helpers/redis-server.js';
import { describeStoreConformance } from './store-conformance.js';

/** Delete every key under `prefix`. */
async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await deleteKeysUnder(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

describeStoreConformance(
  'RedisStore',
  async () => {
    await requireRedis(REDIS_URL);
    const keyPrefix = `lapse-test:${randomBytes(6).toString('hex')}:`;
    // One clock for both instances; near real time, so the expiries written
    // (PXAT, shifted to Redis's clock) stay in the future while a case runs.
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000 + 123);
    const open = async (): Promise<RedisStore> => {
      // No timer: the suite sweeps by hand, so nothing changes between its steps.
      const store = new RedisStore({ redis: REDIS_URL, keyPrefix, clock, sweepIntervalMs: 0 });
      await store.ready();
      return store;
    };
    const stores = [await open()];
    return {
      store: stores[0] as RedisStore,
      advance: (ms) => clock.advance(ms),
      secondInstance: async () => {
        const other = await open();
        stores.push(other);
        return other;
      },
      close: async () => {
        await Promise.all(stores.map((store) => store.close()));
        await deleteKeys(REDIS_URL, keyPrefix);
      },
    };
  },
  { shared: true },
);
