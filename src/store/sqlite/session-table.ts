/**
 * The SQL of the SQLite store: one prepared statement per access path,
 * prepared once, and the mapping between rows and `SessionRecord`s. No
 * decisions here; `sqlite-store.ts` makes them (with `session/decide.ts`)
 * inside its transactions.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { nextDeadline } from '../../session/decide.js';
import type { EndReason, SessionAttrs, SessionRecord } from '../../session/types.js';
import type { ListQuery } from '../session-query.js';

/** One `sessions` row as better-sqlite3 returns it. */
interface SessionRow {
  readonly id_hash: string;
  readonly subject: string;
  readonly roles: string;
  readonly user_type: string;
  readonly attrs: string;
  readonly created_at: number;
  readonly last_activity_at: number;
  readonly idle_expires_at: number | null;
  readonly absolute_expires_at: number;
  readonly ended_at: number | null;
  readonly end_reason: EndReason | null;
  readonly revoke_reason: string | null;
  readonly rule: string;
  readonly purge_at: number;
  readonly due_at: number;
}

/** The state columns a decision may change on an existing row. */
interface StateParams {
  readonly idHash: string;
  readonly lastActivityAt: number;
  readonly idleExpiresAt: number | null;
  readonly absoluteExpiresAt: number;
  readonly endedAt: number | null;
  readonly endReason: EndReason | null;
  readonly revokeReason: string | null;
  readonly rule: string;
  readonly purgeAt: number;
}

/** The state columns and the row's next sweep time. */
interface ScheduledStateParams extends StateParams {
  readonly dueAt: number;
}

/** Every column of a new row. */
interface InsertParams extends ScheduledStateParams {
  readonly subject: string;
  readonly roles: string;
  readonly userType: string;
  readonly attrs: string;
  readonly createdAt: number;
}

/** A record as read inside a transaction, with the time its row next needs the sweep. */
export interface StoredSession {
  readonly record: SessionRecord;
  /** The row's `due_at`: never later than `dueAt(record)`, possibly earlier. */
  readonly dueAt: number;
}

/** The parameters of a list statement; each is bound only when its condition is in the SQL. */
interface ListParams {
  now: number;
  limit: number;
  after?: string;
  subject?: string;
  rule?: string;
  role?: string;
}

/** One entry of the revocation log. */
export interface RevocationRow {
  readonly id: number;
  readonly id_hash: string;
  readonly subject: string;
  readonly reason: string;
}

const COLUMNS = `id_hash, subject, roles, user_type, attrs, created_at, last_activity_at,
  idle_expires_at, absolute_expires_at, ended_at, end_reason, revoke_reason, rule, purge_at`;

/** `list`'s `live` state, on the stored columns: not ended and before both stored deadlines. */
const LIVE = `(end_reason IS NULL AND absolute_expires_at > @now
  AND (idle_expires_at IS NULL OR idle_expires_at > @now))`;

const STATE = `last_activity_at = @lastActivityAt, idle_expires_at = @idleExpiresAt,
  absolute_expires_at = @absoluteExpiresAt, ended_at = @endedAt, end_reason = @endReason,
  revoke_reason = @revokeReason, rule = @rule, purge_at = @purgeAt`;

/** When the sweep next needs a record: its earliest stored deadline while live, its purge time once ended. */
export function dueAt(record: SessionRecord): number {
  return record.endReason === undefined ? nextDeadline(record) : record.purgeAt;
}

function toStored(row: SessionRow): StoredSession {
  return { record: toRecord(row), dueAt: row.due_at };
}

function toRecord(row: SessionRow): SessionRecord {
  const record: SessionRecord = {
    idHash: row.id_hash,
    subject: row.subject,
    roles: JSON.parse(row.roles) as string[],
    userType: row.user_type,
    attrs: JSON.parse(row.attrs) as SessionAttrs,
    createdAt: row.created_at,
    lastActivityAt: row.last_activity_at,
    idleExpiresAt: row.idle_expires_at,
    absoluteExpiresAt: row.absolute_expires_at,
    rule: row.rule,
    purgeAt: row.purge_at,
  };
  if (row.end_reason === null) return record;
  return {
    ...record,
    // The schema holds ended_at and end_reason both or neither.
    endedAt: row.ended_at as number,
    endReason: row.end_reason,
    ...(row.revoke_reason === null ? {} : { revokeReason: row.revoke_reason }),
  };
}

function stateParams(record: SessionRecord): StateParams {
  return {
    idHash: record.idHash,
    lastActivityAt: record.lastActivityAt,
    idleExpiresAt: record.idleExpiresAt,
    absoluteExpiresAt: record.absoluteExpiresAt,
    endedAt: record.endedAt ?? null,
    endReason: record.endReason ?? null,
    revokeReason: record.revokeReason ?? null,
    rule: record.rule,
    purgeAt: record.purgeAt,
  };
}

/**
 * The `sessions` and `revocations` tables of one connection. Methods run one
 * statement each; the caller supplies the transaction.
 */
export class SessionTable {
  readonly #select: BetterSqlite3.Statement<[string], SessionRow>;
  readonly #insert: BetterSqlite3.Statement<[InsertParams]>;
  readonly #updateState: BetterSqlite3.Statement<[StateParams]>;
  readonly #updateStateAndDue: BetterSqlite3.Statement<[ScheduledStateParams]>;
  readonly #updateDue: BetterSqlite3.Statement<[number, string]>;
  readonly #delete: BetterSqlite3.Statement<[string]>;
  readonly #selectDue: BetterSqlite3.Statement<[number, number], SessionRow>;
  readonly #selectAnyDue: BetterSqlite3.Statement<[number], number>;
  readonly #selectLiveOfSubject: BetterSqlite3.Statement<[string, number], SessionRow>;
  readonly #insertRevocation: BetterSqlite3.Statement<[string, string, string, number]>;
  readonly #pruneRevocations: BetterSqlite3.Statement<[number]>;
  readonly #selectRevocationsAfter: BetterSqlite3.Statement<[number], RevocationRow>;
  readonly #selectLastRevocationId: BetterSqlite3.Statement<[], number>;
  readonly #db: BetterSqlite3.Database;
  /**
   * List statements, prepared on first use, one per shape of query (which
   * filters, which state, first page or not: at most 48), so each keeps the
   * plan that suits it: the primary key walked from the cursor, or the subject
   * index for one subject.
   */
  readonly #listStatements = new Map<string, BetterSqlite3.Statement<[ListParams], SessionRow>>();

  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
    this.#select = db.prepare(`SELECT ${COLUMNS}, due_at FROM sessions WHERE id_hash = ?`);
    this.#insert = db.prepare(
      `INSERT INTO sessions (${COLUMNS}, due_at) VALUES (@idHash, @subject, @roles,
        @userType, @attrs, @createdAt, @lastActivityAt, @idleExpiresAt, @absoluteExpiresAt,
        @endedAt, @endReason, @revokeReason, @rule, @purgeAt, @dueAt)`,
    );
    // The decisions never change who a session is (subject, roles, user type,
    // attrs, createdAt): rotation puts changed ones on the successor, a new row.
    // Without due_at the update leaves the due_at index alone: most touches.
    this.#updateState = db.prepare(`UPDATE sessions SET ${STATE} WHERE id_hash = @idHash`);
    this.#updateStateAndDue = db.prepare(
      `UPDATE sessions SET ${STATE}, due_at = @dueAt WHERE id_hash = @idHash`,
    );
    this.#updateDue = db.prepare('UPDATE sessions SET due_at = ? WHERE id_hash = ?');
    this.#delete = db.prepare('DELETE FROM sessions WHERE id_hash = ?');
    this.#selectDue = db.prepare(
      `SELECT ${COLUMNS}, due_at FROM sessions WHERE due_at <= ? ORDER BY due_at LIMIT ?`,
    );
    this.#selectAnyDue = db
      .prepare<[number], number>('SELECT 1 FROM sessions WHERE due_at <= ? LIMIT 1')
      .pluck();
    this.#selectLiveOfSubject = db.prepare(
      `SELECT ${COLUMNS}, due_at FROM sessions
        WHERE subject = ? AND end_reason IS NULL AND purge_at > ?`,
    );
    this.#insertRevocation = db.prepare(
      'INSERT INTO revocations (id_hash, subject, reason, at) VALUES (?, ?, ?, ?)',
    );
    this.#pruneRevocations = db.prepare('DELETE FROM revocations WHERE at < ?');
    this.#selectRevocationsAfter = db.prepare(
      'SELECT id, id_hash, subject, reason FROM revocations WHERE id > ? ORDER BY id',
    );
    this.#selectLastRevocationId = db
      .prepare<[], number>(
        "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'revocations'",
      )
      .pluck();
  }

  /** The record stored under `idHash`, purgeable or not. */
  get(idHash: string): StoredSession | undefined {
    const row = this.#select.get(idHash);
    return row === undefined ? undefined : toStored(row);
  }

  /** Store a new record; the caller has made sure the key is free. */
  insert(record: SessionRecord): void {
    this.#insert.run({
      ...stateParams(record),
      dueAt: dueAt(record),
      subject: record.subject,
      roles: JSON.stringify(record.roles),
      userType: record.userType,
      attrs: JSON.stringify(record.attrs),
      createdAt: record.createdAt,
    });
  }

  /**
   * Write a decision's new version of an existing record, read with
   * `storedDueAt`. The row's `due_at` moves only to bring it earlier (a
   * stricter policy): a touch, which pushes deadlines out, then changes no
   * index, and the sweep moves a row it meets too early on to its real time.
   */
  update(record: SessionRecord, storedDueAt: number): void {
    const due = dueAt(record);
    if (due < storedDueAt) this.#updateStateAndDue.run({ ...stateParams(record), dueAt: due });
    else this.#updateState.run(stateParams(record));
  }

  /** Write a record and set its row's `due_at` to exactly when it next needs the sweep. */
  reschedule(record: SessionRecord): void {
    this.#updateStateAndDue.run({ ...stateParams(record), dueAt: dueAt(record) });
  }

  /** Move a row's next sweep time without changing the record. */
  setDueAt(idHash: string, at: number): void {
    this.#updateDue.run(at, idHash);
  }

  delete(idHash: string): void {
    this.#delete.run(idHash);
  }

  /** Up to `limit` records the sweep needs at `now`, earliest first, through the `due_at` index. */
  due(now: number, limit: number): StoredSession[] {
    return this.#selectDue.all(now, limit).map(toStored);
  }

  /** Whether any row needs the sweep at `now`: one index probe, no lock beyond a read. */
  hasDue(now: number): boolean {
    return this.#selectAnyDue.get(now) !== undefined;
  }

  /** The not-yet-ended, not purgeable records of one subject. */
  liveOfSubject(subject: string, now: number): StoredSession[] {
    return this.#selectLiveOfSubject.all(subject, now).map(toStored);
  }

  /**
   * Up to `limit` records kept at `now` (before `purge_at`) that `query`
   * asks for, after the key `after`, by `id_hash` ascending (SQLite's binary
   * order). One SELECT: one snapshot of the table.
   */
  list(query: ListQuery, after: string | undefined, now: number, limit: number): SessionRecord[] {
    const conditions = ['purge_at > @now'];
    const params: ListParams = { now, limit };
    if (after !== undefined) {
      conditions.push('id_hash > @after');
      params.after = after;
    }
    if (query.subject !== undefined) {
      conditions.push('subject = @subject');
      params.subject = query.subject;
    }
    if (query.rule !== undefined) {
      conditions.push('rule = @rule');
      params.rule = query.rule;
    }
    if (query.role !== undefined) {
      conditions.push('EXISTS (SELECT 1 FROM json_each(sessions.roles) WHERE value = @role)');
      params.role = query.role;
    }
    if (query.state === 'live') conditions.push(LIVE);
    else if (query.state === 'ended') conditions.push(`NOT ${LIVE}`);
    const sql = `SELECT ${COLUMNS}, due_at FROM sessions WHERE ${conditions.join(' AND ')}
      ORDER BY id_hash LIMIT @limit`;
    let statement = this.#listStatements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare<[ListParams], SessionRow>(sql);
      this.#listStatements.set(sql, statement);
    }
    return statement.all(params).map(toRecord);
  }

  /** Append to the revocation log every instance polls. `at` is wall-clock ms, for pruning. */
  logRevocation(record: SessionRecord, reason: string, at: number): void {
    this.#insertRevocation.run(record.idHash, record.subject, reason, at);
  }

  /** Forget log entries written before `before` (wall-clock ms). */
  pruneRevocations(before: number): void {
    this.#pruneRevocations.run(before);
  }

  /** Log entries after `id`, oldest first. */
  revocationsAfter(id: number): RevocationRow[] {
    return this.#selectRevocationsAfter.all(id);
  }

  /** The id of the newest log entry ever written (0 before the first), even if pruned since. */
  lastRevocationId(): number {
    return this.#selectLastRevocationId.get() ?? 0;
  }
}
