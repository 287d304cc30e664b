/**
 * The SQLite store's schema and its migrations, versioned by `PRAGMA user_version`.
 * A migration is never edited once released: a change is a new entry.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { StoreUnavailableError } from '../../errors.js';

/**
 * `MIGRATIONS[i]` moves a database from version `i` to `i + 1`.
 *
 * Version 1:
 * - `sessions`, keyed by `id_hash` (the SHA-256 the caller passes, never an id),
 *   one column per `SessionRecord` field (roles and attrs as JSON text) and
 *   `due_at`, indexed so the sweep reads only due rows: never later than when
 *   the sweep next needs the row (its earliest stored deadline while live, its
 *   `purge_at` once ended), and set exactly whenever the sweep meets the row.
 *   `WITHOUT ROWID`: a lookup by key is one B-tree search, not two.
 * - `revocations`, the broadcast log every instance on the file polls. AUTOINCREMENT
 *   so an id is never reused after the log is pruned (a poller's cursor stays valid).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    subject TEXT NOT NULL,
    roles TEXT NOT NULL,
    user_type TEXT NOT NULL,
    attrs TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    idle_expires_at INTEGER,
    absolute_expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT CHECK (end_reason IN ('idle', 'absolute', 'revoked', 'rotated')),
    revoke_reason TEXT,
    rule TEXT NOT NULL,
    purge_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    CHECK ((end_reason IS NULL) = (ended_at IS NULL))
  ) WITHOUT ROWID;
  CREATE INDEX sessions_due_at ON sessions (due_at);
  CREATE INDEX sessions_subject ON sessions (subject);
  CREATE TABLE revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    id_hash TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
  );
  CREATE INDEX revocations_at ON revocations (at);
  `,
];

/** The schema version this build of lapse reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring `db` to {@link SCHEMA_VERSION}. Runs in one IMMEDIATE transaction, so
 * two processes opening a new file at once migrate it once; a file written by
 * a newer lapse is refused rather than misread.
 *
 * @example
 * import Database from 'better-sqlite3';
 * migrate(new Database('lapse.db'));
 */
export function migrate(db: BetterSqlite3.Database): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true });
    if (typeof version !== 'number' || version > SCHEMA_VERSION) {
      throw new StoreUnavailableError(
        `${db.name} has lapse schema version ${String(version)}, newer than this lapse reads (${SCHEMA_VERSION}); upgrade lapse or use another path`,
      );
    }
    for (let next = version; next < SCHEMA_VERSION; next++) {
      db.exec(MIGRATIONS[next] as string);
    }
    if (version < SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
