import { MemoryStore } from '../store/memory-store.js';
import { RedisStore } from '../store/redis/redis-store.js';
import type { SessionStore } from '../store/session-store.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { StoreSection } from './config/types.js';

/**
 * Open the store a `store:` section names. A Redis store is connected (or has
 * failed its first attempt) before this resolves; a gateway whose Redis is
 * down still starts and fails closed (503) until it returns.
 */
export async function storeFromConfig(section: StoreSection): Promise<SessionStore> {
  switch (section.type) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite':
      return new SqliteStore({ path: section.path });
    case 'redis': {
      const store = new RedisStore({ redis: section.url.value(), keyPrefix: section.keyPrefix });
      await store.ready().catch(() => undefined);
      return store;
    }
  }
}
