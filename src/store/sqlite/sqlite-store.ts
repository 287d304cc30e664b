import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type BetterSqlite3 from 'better-sqlite3';
import { StoreUnavailableError } from '../../errors.js';
import type { Clock } from '../../session/clock.js';
import {
  type AccessMode,
  createRecord,
  decideAccess,
  decideRevoke,
  decideRotate,
  expireIfDue,
  nextDeadline,
  type PolicyResolver,
} from '../../session/decide.js';
import type { SessionChanges, SessionDraft, SessionRecord } from '../../session/types.js';
import { ListenerSet } from '../listener-set.js';
import { checkListQuery, decodeKeyCursor, encodeKeyCursor } from '../session-query.js';
import type {
  AccessResult,
  CreateResult,
  ExpireListener,
  RevokeListener,
  RevokeResult,
  RotateResult,
  SessionPage,
  SessionQuery,
  SessionStore,
} from '../session-store.js';
import { reportBackgroundError } from '../store-warnings.js';
import { openDatabase, toStoreError } from './database.js';
import {
  type SqliteStoreConfig,
  type SqliteStoreOptions,
  validateSqliteOptions,
} from './options.js';
import { RevocationFeed } from './revocation-feed.js';
import { SessionTable, type StoredSession } from './session-table.js';

const UNKNOWN = Object.freeze({ outcome: 'unknown' as const });
const CONFLICT = Object.freeze({ outcome: 'conflict' as const });

/**
 * Rows one sweep transaction handles. Small enough that the write lock is held
 * for a few milliseconds, so a wave of expiries never stalls requests in other
 * processes; the sweep yields to the event loop between batches.
 */
const SWEEP_BATCH = 500;

/** Tag of this store's list cursors. */
const CURSOR_TAG = 's';

/** How long the revocation log keeps an entry: far longer than any poll interval. */
const REVOCATION_LOG_MS = 60_000;

interface SweepBatch {
  readonly ended: SessionRecord[];
  readonly more: boolean;
}

/**
 * Sessions in one SQLite file, shared by every `SqliteStore` on that file, in
 * this process or others on the same machine (not over a network file system,
 * where SQLite's locks cannot be trusted): the embedded default, no server to
 * run, and sessions survive a restart.
 *
 * Every deciding method reads, decides (with `session/decide.ts`) and writes
 * inside ONE `BEGIN IMMEDIATE` transaction, so no two instances or processes
 * ever interleave; a peek that changes nothing takes no write lock. The file
 * holds only the SHA-256 of each id, never an id. The sweep reads only due
 * rows, through an index on the time each row next needs it; revocations reach
 * every instance through a log each one polls.
 *
 * @example
 * import { SessionAuthority, loadPolicyFile } from 'lapse';
 * import { SqliteStore } from 'lapse/sqlite';
 * const store = new SqliteStore({ path: '/var/lib/lapse/sessions.db' });
 * store.onRevoke(({ idHash, reason }) => console.log('revoked', idHash, reason));
 * const authority = new SessionAuthority({ policy: await loadPolicyFile('lapse.yaml'), store });
 */
export class SqliteStore implements SessionStore {
  /** The validated options, frozen. */
  readonly options: SqliteStoreConfig;
  readonly #clock: Clock;
  readonly #retainMs: number;
  readonly #db: BetterSqlite3.Database;
  readonly #table: SessionTable;
  readonly #feed: RevocationFeed;
  readonly #expireListeners = new ListenerSet<SessionRecord>('SqliteStore');
  readonly #createTx: BetterSqlite3.Transaction<
    (idHash: string, draft: SessionDraft, policy: PolicyResolver) => CreateResult
  >;
  readonly #accessTx: BetterSqlite3.Transaction<
    (idHash: string, mode: AccessMode, policy: PolicyResolver) => AccessResult
  >;
  readonly #revokeTx: BetterSqlite3.Transaction<(idHash: string, reason: string) => RevokeResult>;
  readonly #revokeSubjectTx: BetterSqlite3.Transaction<
    (subject: string, reason: string) => SessionRecord[]
  >;
  readonly #rotateTx: BetterSqlite3.Transaction<
    (idHash: string, newIdHash: string, changes: SessionChanges) => RotateResult
  >;
  readonly #sweepTx: BetterSqlite3.Transaction<() => SweepBatch>;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #isTimerSweeping = false;
  #isSweepFailing = false;
  #closed = false;

  /**
   * Open (creating if needed) the database at `options.path`.
   * @throws OptionError for an invalid option; StoreUnavailableError when the file cannot be opened or is not a lapse database.
   */
  constructor(options: SqliteStoreOptions = {}) {
    this.options = validateSqliteOptions(options);
    this.#clock = this.options.clock;
    this.#retainMs = this.options.retainEndedMs;
    this.#db = openDatabase(this.options.path);
    try {
      this.#table = new SessionTable(this.#db);
    } catch (error) {
      this.#db.close();
      throw toStoreError(error, this.options.path, 'preparing its statements');
    }
    this.#feed = new RevocationFeed(this.#table, this.options.revokePollMs);
    const db = this.#db;
    this.#createTx = db.transaction((idHash, draft, policy) => this.#create(idHash, draft, policy));
    this.#accessTx = db.transaction((idHash, mode, policy) => this.#access(idHash, mode, policy));
    this.#revokeTx = db.transaction((idHash, reason) => this.#revoke(idHash, reason));
    this.#revokeSubjectTx = db.transaction((subject, reason) =>
      this.#revokeSubject(subject, reason),
    );
    this.#rotateTx = db.transaction((idHash, newIdHash, changes) =>
      this.#rotate(idHash, newIdHash, changes),
    );
    this.#sweepTx = db.transaction(() => this.#sweepBatch());
    if (this.options.sweepIntervalMs > 0) {
      this.#sweepTimer = setInterval(() => {
        void this.#timedSweep();
      }, this.options.sweepIntervalMs);
      this.#sweepTimer.unref();
    }
  }

  async now(): Promise<number> {
    this.#assertOpen();
    return this.#clock.now();
  }

  async create(idHash: string, draft: SessionDraft, policy: PolicyResolver): Promise<CreateResult> {
    return this.#run('creating a session', () => this.#createTx.immediate(idHash, draft, policy));
  }

  async access(idHash: string, mode: AccessMode, policy: PolicyResolver): Promise<AccessResult> {
    return this.#run('checking a session', () =>
      mode === 'peek' ? this.#peek(idHash, policy) : this.#accessTx.immediate(idHash, mode, policy),
    );
  }

  async revoke(idHash: string, reason: string): Promise<RevokeResult> {
    const decision = this.#run('revoking a session', () =>
      this.#revokeTx.immediate(idHash, reason),
    );
    if (decision.outcome === 'ended') this.#feed.poll();
    return decision;
  }

  async revokeSubject(subject: string, reason: string): Promise<SessionRecord[]> {
    const revoked = this.#run("revoking a subject's sessions", () =>
      this.#revokeSubjectTx.immediate(subject, reason),
    );
    if (revoked.length > 0) this.#feed.poll();
    return revoked;
  }

  async rotate(idHash: string, newIdHash: string, changes: SessionChanges): Promise<RotateResult> {
    return this.#run('rotating a session id', () =>
      this.#rotateTx.immediate(idHash, newIdHash, changes),
    );
  }

  async get(idHash: string): Promise<SessionRecord | undefined> {
    return this.#run('reading a session', () => {
      const now = this.#clock.now();
      const record = this.#table.get(idHash)?.record;
      return record === undefined || record.purgeAt <= now ? undefined : record;
    });
  }

  /** By idHash ascending; one SELECT per page, no transaction, no write lock. */
  async list(query?: SessionQuery): Promise<SessionPage> {
    const checked = checkListQuery(query);
    const after =
      checked.cursor === undefined ? undefined : decodeKeyCursor(CURSOR_TAG, checked.cursor);
    return this.#run('listing sessions', () => {
      const now = this.#clock.now();
      // One more than the page: whether there is a next page is known now, not one call later.
      const found = this.#table.list(checked, after, now, checked.limit + 1);
      const records = found.slice(0, checked.limit);
      const last = records[records.length - 1];
      const isMore = found.length > checked.limit && last !== undefined;
      return { now, records, next: isMore ? encodeKeyCursor(CURSOR_TAG, last.idHash) : null };
    });
  }

  async sweep(): Promise<SessionRecord[]> {
    this.#assertOpen();
    return this.#sweep();
  }

  onExpire(listener: ExpireListener): () => void {
    return this.#expireListeners.add(listener);
  }

  onRevoke(listener: RevokeListener): () => void {
    if (this.#closed) return () => undefined;
    return this.#feed.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#feed.close();
    this.#expireListeners.clear();
    try {
      this.#db.close();
    } catch (error) {
      throw toStoreError(error, this.options.path, 'closing');
    }
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new StoreUnavailableError(`the SQLite session store ${this.options.path} is closed`);
    }
  }

  /** Run one step against the database, turning SQLite failures into StoreUnavailableError. */
  #run<T>(doing: string, step: () => T): T {
    this.#assertOpen();
    try {
      return step();
    } catch (error) {
      throw toStoreError(error, this.options.path, doing);
    }
  }

  /**
   * The record under `idHash` inside a write transaction, forgetting it
   * instead when its `purgeAt` has passed (so the key is free again).
   */
  #stored(idHash: string, now: number): StoredSession | undefined {
    const stored = this.#table.get(idHash);
    if (stored === undefined || stored.record.purgeAt > now) return stored;
    this.#table.delete(idHash);
    return undefined;
  }

  #create(idHash: string, draft: SessionDraft, policy: PolicyResolver): CreateResult {
    const now = this.#clock.now();
    const existing = this.#stored(idHash, now);
    if (existing !== undefined) return { outcome: 'exists', record: existing.record };
    const record = createRecord(idHash, draft, policy, now, this.#retainMs);
    this.#table.insert(record);
    return { outcome: 'created', record };
  }

  /**
   * A peek reads one row (its own snapshot) and writes only when it is the
   * decision that ends the session: then it decides again inside a write
   * transaction, since another process may have written in between.
   */
  #peek(idHash: string, policy: PolicyResolver): AccessResult {
    const now = this.#clock.now();
    const record = this.#table.get(idHash)?.record;
    if (record === undefined || record.purgeAt <= now) return UNKNOWN;
    const decision = decideAccess(record, policy, now, 'peek', this.#retainMs);
    if (decision.outcome === 'ended' && decision.endedNow) {
      return this.#accessTx.immediate(idHash, 'peek', policy);
    }
    return decision;
  }

  #access(idHash: string, mode: AccessMode, policy: PolicyResolver): AccessResult {
    const now = this.#clock.now();
    const stored = this.#stored(idHash, now);
    if (stored === undefined) return UNKNOWN;
    const decision = decideAccess(stored.record, policy, now, mode, this.#retainMs);
    if (decision.outcome === 'active') {
      if (decision.write !== undefined) this.#table.update(decision.write, stored.dueAt);
    } else if (decision.endedNow) {
      this.#table.update(decision.record, stored.dueAt);
    }
    return decision;
  }

  #revoke(idHash: string, reason: string): RevokeResult {
    const now = this.#clock.now();
    const stored = this.#stored(idHash, now);
    if (stored === undefined) return UNKNOWN;
    const decision = decideRevoke(stored.record, now, reason, this.#retainMs);
    if (decision.outcome === 'ended' || decision.endedNow) {
      this.#table.update(decision.record, stored.dueAt);
    }
    if (decision.outcome === 'ended') this.#logRevocations([decision.record], reason);
    return decision;
  }

  #revokeSubject(subject: string, reason: string): SessionRecord[] {
    const now = this.#clock.now();
    const revoked: SessionRecord[] = [];
    // Ended and purgeable records are left out by the query: revoking them decides nothing.
    for (const stored of this.#table.liveOfSubject(subject, now)) {
      const decision = decideRevoke(stored.record, now, reason, this.#retainMs);
      if (decision.outcome === 'ended') {
        this.#table.update(decision.record, stored.dueAt);
        revoked.push(decision.record);
      } else if (decision.endedNow) {
        this.#table.update(decision.record, stored.dueAt);
      }
    }
    this.#logRevocations(revoked, reason);
    return revoked;
  }

  #rotate(idHash: string, newIdHash: string, changes: SessionChanges): RotateResult {
    const now = this.#clock.now();
    const stored = this.#stored(idHash, now);
    if (stored === undefined) return UNKNOWN;
    if (this.#stored(newIdHash, now) !== undefined) return CONFLICT;
    const decision = decideRotate(stored.record, newIdHash, changes, now, this.#retainMs);
    if (decision.outcome === 'rotated') {
      this.#table.update(decision.retired, stored.dueAt);
      this.#table.insert(decision.successor);
    } else if (decision.endedNow) {
      this.#table.update(decision.record, stored.dueAt);
    }
    return decision;
  }

  /**
   * Log revocations for every instance's feed, in the revoke's own
   * transaction so none is lost or told for a revoke that rolled back. The
   * log is pruned by wall-clock time: it only has to outlive the pollers'
   * interval in real time, whatever clock the sessions run on.
   */
  #logRevocations(records: readonly SessionRecord[], reason: string): void {
    if (records.length === 0) return;
    const wallNow = Date.now();
    this.#table.pruneRevocations(wallNow - REVOCATION_LOG_MS);
    for (const record of records) this.#table.logRevocation(record, reason, wallNow);
  }

  /**
   * One sweep transaction: end (with `expireIfDue`) the live rows whose stored
   * deadline has passed, forget rows past `purgeAt`, and move rows met early
   * (touched since, or ended by a request or a revoke) on to their real time.
   * Every row it reads leaves with `due_at` after `now` or is deleted, so the
   * next batch never sees it again.
   */
  #sweepBatch(): SweepBatch {
    const now = this.#clock.now();
    const due = this.#table.due(now, SWEEP_BATCH);
    const ended: SessionRecord[] = [];
    for (const { record } of due) {
      if (record.endReason === undefined) {
        const current = expireIfDue(record, now, this.#retainMs);
        if (current === undefined) {
          this.#table.setDueAt(record.idHash, nextDeadline(record));
          continue;
        }
        ended.push(current);
        if (current.purgeAt <= now) this.#table.delete(current.idHash);
        else this.#table.reschedule(current);
      } else if (record.purgeAt <= now) {
        this.#table.delete(record.idHash);
      } else {
        this.#table.setDueAt(record.idHash, record.purgeAt);
      }
    }
    return { ended, more: due.length === SWEEP_BATCH };
  }

  /**
   * Batches until nothing is due. The listeners hear, after each commit, only
   * what this instance's own transactions ended: another instance sweeping at
   * once finds those rows already ended, so every expiry is told exactly once.
   */
  async #sweep(): Promise<SessionRecord[]> {
    // Most sweeps find nothing due: a read alone then, so idle instances never
    // take the write lock that requests in other processes need.
    const isAnyDue = this.#run('sweeping', () => this.#table.hasDue(this.#clock.now()));
    if (!isAnyDue) return [];
    const ended: SessionRecord[] = [];
    for (;;) {
      const batch = this.#run('sweeping', () => this.#sweepTx.immediate());
      ended.push(...batch.ended);
      this.#tellExpired(batch.ended);
      if (!batch.more) return ended;
      await yieldToEventLoop();
      // Closed while yielding: what was ended is done and told; stop quietly.
      if (this.#closed) return ended;
    }
  }

  async #timedSweep(): Promise<void> {
    // A slow sweep is not overlapped by the next tick.
    if (this.#isTimerSweeping || this.#closed) return;
    this.#isTimerSweeping = true;
    try {
      await this.#sweep();
      this.#isSweepFailing = false;
    } catch (error) {
      // Once per failure streak: every tick would otherwise repeat it.
      if (!this.#isSweepFailing) reportBackgroundError('SqliteStore', 'sweep failed', error);
      this.#isSweepFailing = true;
    } finally {
      this.#isTimerSweeping = false;
    }
  }

  #tellExpired(records: readonly SessionRecord[]): void {
    for (const record of records) this.#expireListeners.notify(record);
  }
}
