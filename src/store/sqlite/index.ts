/**
 * `lapse/sqlite`: the embedded session store. One SQLite file, shared by every
 * process and instance that opens it; sessions survive a restart.
 *
 * @example
 * import { SqliteStore } from 'lapse/sqlite';
 * const store = new SqliteStore({ path: './lapse.db' });
 *
 * @packageDocumentation
 */

export type { SqliteStoreConfig, SqliteStoreOptions } from './options.js';
export { SqliteStore } from './sqlite-store.js';
