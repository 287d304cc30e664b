import { ListenerSet } from '../listener-set.js';
import type { RevokeListener, RevokeNotice } from '../session-store.js';
import { reportBackgroundError } from '../store-warnings.js';
import type { RevocationRow } from './session-table.js';

/** Where the feed reads the revocation log from. */
export interface RevocationLog {
  /** The id of the newest entry ever written (0 before the first). */
  lastRevocationId(): number;
  /** Entries after `id`, oldest first. */
  revocationsAfter(id: number): RevocationRow[];
}

/**
 * Revocations made through any instance on one database file, told to this
 * instance's listeners once each. Every revocation is a row in the log,
 * written in the same transaction as the revoke; the feed reads rows after the
 * last one it saw, on a timer while anyone listens and at once after a revoke
 * made here. One cursor, one delivery path: so each row is told exactly once,
 * whichever instance wrote it.
 */
export class RevocationFeed {
  readonly #log: RevocationLog;
  readonly #pollMs: number;
  readonly #listeners = new ListenerSet<RevokeNotice>('SqliteStore');
  /** The last log id told (or skipped); `undefined` until the log could be read. */
  #cursor: number | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #failing = false;

  constructor(log: RevocationLog, pollMs: number) {
    this.#log = log;
    this.#pollMs = pollMs;
  }

  /** True while at least one listener is registered. */
  get isListening(): boolean {
    return this.#listeners.size > 0;
  }

  /**
   * Add a listener that hears revocations logged from now on. Earlier entries
   * are told to the listeners already registered first, so the new one never
   * hears of a revocation older than itself.
   */
  subscribe(listener: RevokeListener): () => void {
    if (this.#listeners.size === 0) {
      this.#cursor = undefined;
      this.#read();
      this.#timer = setInterval(() => this.#read(), this.#pollMs);
      this.#timer.unref();
    } else {
      this.#read();
    }
    const remove = this.#listeners.add(listener);
    return () => {
      remove();
      // The timer runs exactly while someone listens.
      if (this.#listeners.size === 0) this.#stopTimer();
    };
  }

  /** Read and tell what is new now (after a revoke made through this instance). */
  poll(): void {
    if (this.#listeners.size > 0) this.#read();
  }

  close(): void {
    this.#stopTimer();
    this.#listeners.clear();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #read(): void {
    let rows: RevocationRow[];
    try {
      if (this.#cursor === undefined) {
        // Start listening at the end of the log: what came before is not news.
        this.#cursor = this.#log.lastRevocationId();
        rows = [];
      } else {
        rows = this.#log.revocationsAfter(this.#cursor);
      }
      this.#failing = false;
    } catch (error) {
      // Once per failure streak, not every poll: the store's own methods report the outage.
      if (!this.#failing) {
        reportBackgroundError('SqliteStore', 'could not read the revocation log', error);
      }
      this.#failing = true;
      return;
    }
    for (const row of rows) {
      // A listener that subscribes while being told reads the log again, re-entrantly:
      // what that read told is not told twice.
      if (this.#cursor !== undefined && row.id <= this.#cursor) continue;
      this.#cursor = row.id;
      // Only those registered now: one subscribing while told starts with the next notice.
      this.#listeners.notifyRegistered({
        idHash: row.id_hash,
        subject: row.subject,
        reason: row.reason,
      });
    }
  }
}
