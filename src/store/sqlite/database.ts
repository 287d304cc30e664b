/**
 * Opening the SQLite connection, and turning what SQLite throws into the one
 * error callers branch on: `StoreUnavailableError` (fail closed, SPEC 3.5).
 */
import Database from 'better-sqlite3';
import { LapseError, StoreUnavailableError } from '../../errors.js';
import { migrate } from './schema.js';

/**
 * How long a write waits for another connection's write lock before giving up
 * (SQLITE_BUSY, reported as unavailable). A write holds the lock for well
 * under a millisecond, so only a stuck or overloaded writer gets near this.
 */
export const BUSY_TIMEOUT_MS = 5000;

/** better-sqlite3 reports a closed connection with a TypeError, not a SqliteError. */
const NOT_OPEN = 'database connection is not open';

function isSqliteFailure(error: unknown): boolean {
  return (
    error instanceof Database.SqliteError ||
    (error instanceof TypeError && error.message.includes(NOT_OPEN))
  );
}

function detail(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = error instanceof Database.SqliteError ? ` (${error.code})` : '';
  return `${error.message}${code}`;
}

/**
 * What a public method throws for `error`: a SQLite failure (I/O, busy after
 * the timeout, corruption, a closed connection) becomes `StoreUnavailableError`
 * with the original as `cause`; anything else (a policy resolver that threw)
 * passes through unchanged.
 */
export function toStoreError(error: unknown, path: string, doing: string): unknown {
  if (!isSqliteFailure(error)) return error;
  return new StoreUnavailableError(
    `the SQLite session store ${path} failed while ${doing}: ${detail(error)}`,
    { cause: error },
  );
}

/**
 * Open `path` for the store: WAL (readers never wait for the writer),
 * synchronous NORMAL (durable across a process crash; the last commits may be
 * lost on power loss, which only shortens sessions or forgets a touch), the
 * busy timeout, and the schema migrated. Any failure closes the connection and
 * throws `StoreUnavailableError`.
 */
export function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    // Before the journal mode: switching a new file to WAL may wait for another opener.
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    migrate(db);
    return db;
  } catch (error) {
    try {
      db?.close();
    } catch {
      // Closing a connection that failed to open changes nothing; the open error is what matters.
    }
    if (error instanceof LapseError) throw error;
    throw new StoreUnavailableError(
      `cannot open the SQLite session store ${path}: ${detail(error)}`,
      {
        cause: error,
      },
    );
  }
}
