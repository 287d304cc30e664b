import { createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { type DestinationStream, type Logger, pino } from 'pino';
import { OptionError } from '../errors.js';
import type { SessionAuthority } from '../session/authority.js';
import { type Clock, systemClock } from '../session/clock.js';
import type { SessionRecord } from '../session/types.js';
import type { Anomaly, AnomalyKind } from './anomaly-detector.js';
import type { ReloadOutcome } from './metrics.js';

/** The name of an audit event (`event` on every line). */
export type AuditEventName =
  | 'session.begin'
  | 'session.extend'
  | 'session.expire'
  | 'session.revoke'
  | 'session.reject'
  | 'session.rotate'
  | 'policy.reload'
  | `anomaly.${AnomalyKind}`;

/** A value in an audit event's `detail`. */
export type AuditDetailValue = string | number | boolean | null;

/**
 * One audit event: a line of the log, an entry of {@link AuditLog.recent},
 * what subscribers receive. Every field is present on every event (`null`
 * where it does not apply), so a consumer never guesses the shape.
 */
export interface AuditEvent {
  /** Increases by one per event in this log: the cursor of `recent({ after })`. */
  readonly seq: number;
  /** Epoch ms on the log's clock. */
  readonly time: number;
  readonly event: AuditEventName;
  readonly level: 'info' | 'warn' | 'error';
  /**
   * The session, as a salted hash of its stored `idHash` (see
   * {@link AuditLog.sessionRef}); never the id, never the `idHash` itself.
   */
  readonly session: string | null;
  readonly subject: string | null;
  /** The deciding rule (`defaults` or a rule name). */
  readonly rule: string | null;
  /** Why: the end, revoke or reject reason, the reload result, the anomaly's reason. */
  readonly reason: string | null;
  /** The rest, per event (`noticedBy`, `retired`, `previous`, `trigger` ...). */
  readonly detail: Readonly<Record<string, AuditDetailValue>>;
}

/** Told of every new audit event (for a live feed, e.g. server-sent events). */
export type AuditListener = (event: AuditEvent) => void;

/** What {@link AuditLog.recordReload} needs of a reload: the reloader's `ReloadResult` fits. */
export interface ReloadReport {
  readonly result: ReloadOutcome;
  readonly error?: { readonly code: string };
}

/** Options of {@link AuditLog}. */
export interface AuditLogOptions {
  /**
   * Where the lines go: a pino destination (`pino.destination(1)` for stdout,
   * any stream with `write(string)`), or a file path, opened for appending
   * with synchronous writes (an audit line is on disk when the call returns).
   */
  readonly destination: DestinationStream | string;
  /**
   * The key of the session hash, at least 16 bytes. Default: 32 random bytes
   * per log, so hashes link events within one process run and nothing else.
   * Give a secret salt to link them across restarts and instances: then the
   * hash is a stable pseudonym, and the salt must stay as secret as the log.
   */
  readonly salt?: string | Uint8Array;
  /** How many recent events {@link AuditLog.recent} keeps. Default: 500. */
  readonly capacity?: number;
  /**
   * Also log rejections with nothing presented (`missing`): no session, no
   * subject, one line per anonymous request. Default: false.
   */
  readonly includeMissing?: boolean;
  /**
   * Most rejections of an id the store does not know (malformed, unknown,
   * purged) written per second; the rest of that second are counted, and the
   * next such line written says how many were left out
   * (`detail.suppressedBefore`). A flood of forged cookies then cannot flood
   * the audit trail (`lapse_requests_total{verdict="rejected"}` still counts
   * each). Rejections of known sessions are always written. Default: 20.
   */
  readonly unknownRejectsPerSecond?: number;
  /** Where `time` comes from. Default: the system clock. */
  readonly clock?: Clock;
  /** Where an error thrown by a subscriber goes. Default: console.error. */
  readonly onListenerError?: (error: unknown) => void;
}

interface Entry {
  readonly event: AuditEventName;
  readonly level?: AuditEvent['level'];
  readonly record?: SessionRecord | undefined;
  readonly session?: string | null;
  readonly subject?: string | null;
  readonly rule?: string | null;
  readonly reason?: string | null;
  readonly detail?: Readonly<Record<string, AuditDetailValue>>;
}

const MIN_SALT_BYTES = 16;
/** Bytes of HMAC kept: 128 bits is plenty to tell sessions apart and keeps lines short. */
const REF_BYTES = 16;

/**
 * The audit log (SPEC section 6): one JSON object a line through pino, for
 * `session.begin`, `session.extend`, `session.expire`, `session.revoke`,
 * `session.reject`, `session.rotate`, `policy.reload` and `anomaly.<kind>`.
 * Each line has `level`, `seq`, `time`, `event`, `session`, `subject`,
 * `rule`, `reason` and `detail`. `session` is an HMAC-SHA256 of the stored
 * `idHash` under a salt (truncated to 128 bits, base64url): the `idHash` is
 * itself a stable identifier, so neither it nor the id is ever written.
 *
 * The most recent `capacity` events are kept in memory for
 * {@link recent} (a dashboard, `GET /api/events`), and {@link subscribe}
 * feeds new ones live.
 *
 * @example
 * import { pino } from 'pino';
 * import { AuditLog } from './observe/index.js';
 * const audit = new AuditLog({ destination: pino.destination(1) });
 * audit.observeAuthority(authority);
 * const { events } = audit.recent({ limit: 50 });
 */
export class AuditLog {
  readonly #logger: Logger;
  readonly #key: KeyObject;
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #includeMissing: boolean;
  readonly #unknownPerSecond: number;
  #unknownWindowStart = Number.NEGATIVE_INFINITY;
  #unknownInWindow = 0;
  #unknownSuppressed = 0;
  readonly #onListenerError: (error: unknown) => void;
  readonly #ring: (AuditEvent | undefined)[];
  readonly #listeners = new Set<AuditListener>();
  #seq = 0;

  constructor(options: AuditLogOptions) {
    if (options === null || typeof options !== 'object') {
      throw new OptionError('options', 'pass { destination }');
    }
    const { destination } = options;
    if (
      typeof destination === 'string'
        ? destination.length === 0
        : typeof destination?.write !== 'function'
    ) {
      throw new OptionError(
        'destination',
        'pass a file path or a pino destination, for example pino.destination(1) for stdout',
      );
    }
    const capacity = options.capacity ?? 500;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new OptionError(
        'capacity',
        `expected a whole number of events >= 1, got ${String(capacity)}`,
      );
    }
    this.#capacity = capacity;
    this.#ring = new Array<AuditEvent | undefined>(capacity).fill(undefined);
    this.#key = createSecretKey(AuditLog.#salt(options.salt));
    this.#clock = options.clock ?? systemClock;
    this.#includeMissing = options.includeMissing === true;
    const unknownPerSecond = options.unknownRejectsPerSecond ?? 20;
    if (!Number.isSafeInteger(unknownPerSecond) || unknownPerSecond < 0) {
      throw new OptionError(
        'unknownRejectsPerSecond',
        `expected a whole number >= 0, got ${String(unknownPerSecond)}`,
      );
    }
    this.#unknownPerSecond = unknownPerSecond;
    this.#onListenerError =
      options.onListenerError ?? ((error) => console.error('lapse: audit listener failed', error));
    const stream =
      typeof destination === 'string'
        ? pino.destination({ dest: destination, append: true, mkdir: true, sync: true })
        : destination;
    this.#logger = pino(
      {
        level: 'info',
        base: null,
        timestamp: false,
        formatters: { level: (label) => ({ level: label }) },
      },
      stream,
    );
  }

  static #salt(salt: string | Uint8Array | undefined): Buffer {
    if (salt === undefined) return randomBytes(32);
    const bytes =
      typeof salt === 'string'
        ? Buffer.from(salt, 'utf8')
        : salt instanceof Uint8Array
          ? Buffer.from(salt)
          : undefined;
    if (bytes === undefined || bytes.length < MIN_SALT_BYTES) {
      throw new OptionError(
        'salt',
        `expected a secret of at least ${MIN_SALT_BYTES} bytes, or none for a random per-process salt`,
      );
    }
    return bytes;
  }

  /** How many recent events are kept. */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * The session reference written for `idHash` (the same on every line of
   * this log): lets an admin view link a live session to its events.
   */
  sessionRef(idHash: string): string {
    return createHmac('sha256', this.#key)
      .update(idHash)
      .digest()
      .subarray(0, REF_BYTES)
      .toString('base64url');
  }

  /**
   * Log an authority's session events. Rejections with nothing presented
   * are left out unless `includeMissing`. Returns a function that stops listening.
   */
  observeAuthority(authority: Pick<SessionAuthority, 'on'>): () => void {
    const stops = [
      authority.on('begin', ({ record }) =>
        this.#append({ event: 'session.begin', record, detail: { userType: record.userType } }),
      ),
      authority.on('extend', ({ record, status }) =>
        this.#append({
          event: 'session.extend',
          record,
          detail: {
            idleExpiresAt: status.idleExpiresAt,
            absoluteExpiresAt: status.absoluteExpiresAt,
          },
        }),
      ),
      authority.on('expire', ({ record, reason, noticedBy }) =>
        this.#append({
          event: 'session.expire',
          record,
          reason,
          detail: { noticedBy, endedAt: record.endedAt ?? null },
        }),
      ),
      authority.on('revoke', ({ record, reason }) =>
        this.#append({ event: 'session.revoke', record, reason }),
      ),
      authority.on('reject', ({ reason, record, retired }) => {
        if (reason === 'missing' && !this.#includeMissing) return;
        if (record !== undefined) {
          this.#append({ event: 'session.reject', record, reason, detail: { retired } });
          return;
        }
        const suppressedBefore = this.#admitUnknown();
        if (suppressedBefore === undefined) return;
        this.#append({
          event: 'session.reject',
          reason,
          detail: { retired, ...(suppressedBefore > 0 ? { suppressedBefore } : {}) },
        });
      }),
      authority.on('rotate', ({ retired, successor }) =>
        this.#append({
          event: 'session.rotate',
          record: successor,
          detail: { previous: this.sessionRef(retired.idHash) },
        }),
      ),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  }

  /**
   * Log a policy reload. Fits the reloader's `onReload` directly:
   * `onReload: (result, trigger) => audit.recordReload(result, trigger)`.
   */
  recordReload(report: ReloadReport, trigger?: string): AuditEvent {
    const rejected = report.result === 'rejected';
    return this.#append({
      event: 'policy.reload',
      level: rejected ? 'warn' : 'info',
      reason: report.result,
      detail: { trigger: trigger ?? null, code: report.error?.code ?? null },
    });
  }

  /** Log an anomaly as `anomaly.<kind>` at its level (wire the detector's `onAnomaly` here). */
  recordAnomaly(anomaly: Anomaly): AuditEvent {
    const { session } = anomaly;
    return this.#append({
      event: `anomaly.${anomaly.kind}`,
      level: anomaly.level,
      session: session === undefined ? null : this.sessionRef(session.idHash),
      subject: session?.subject ?? null,
      rule: session?.rule ?? null,
      reason: anomaly.reason,
      detail: { ...anomaly.detail, detectedAt: anomaly.time },
    });
  }

  /**
   * Kept events, oldest first. Without `after`: the last `limit`. With
   * `after` (a `seq` already seen): the first `limit` newer than it, so a
   * poller pages forward without gaps; `missed` counts events newer than
   * `after` that were already pushed out of memory. `limit` defaults to, and
   * is capped at, the capacity.
   */
  recent(options: { readonly limit?: number; readonly after?: number } = {}): {
    readonly events: AuditEvent[];
    readonly missed: number;
    /** The newest `seq` so far (0 before any event): the next `after`. */
    readonly lastSeq: number;
  } {
    const limit = Math.min(options.limit ?? this.#capacity, this.#capacity);
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new OptionError('limit', `expected a whole number >= 0, got ${String(options.limit)}`);
    }
    const { after } = options;
    if (after !== undefined && (!Number.isSafeInteger(after) || after < 0)) {
      throw new OptionError('after', `expected a seq (whole number >= 0), got ${String(after)}`);
    }
    const newest = this.#seq;
    const oldest = Math.max(1, newest - this.#capacity + 1);
    let from: number;
    let missed = 0;
    if (after === undefined) {
      from = Math.max(oldest, newest - limit + 1);
    } else {
      from = Math.max(oldest, after + 1);
      missed = Math.max(0, oldest - (after + 1));
    }
    const to = Math.min(newest, from + limit - 1);
    const events: AuditEvent[] = [];
    for (let seq = from; seq <= to; seq += 1) {
      const event = this.#ring[(seq - 1) % this.#capacity];
      if (event !== undefined) events.push(event);
    }
    return { events, missed, lastSeq: newest };
  }

  /** Be told of every new event. Returns a function that stops it. */
  subscribe(listener: AuditListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Flush buffered lines (a no-op for synchronous destinations). */
  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#logger.flush((error) =>
        error === undefined || error === null ? resolve() : reject(error),
      );
    });
  }

  /**
   * Whether one more rejection of an unknown id may be written this second:
   * `undefined` when not, else how many were left out before it.
   */
  #admitUnknown(): number | undefined {
    const now = this.#clock.now();
    if (now - this.#unknownWindowStart >= 1_000 || now < this.#unknownWindowStart) {
      this.#unknownWindowStart = now;
      this.#unknownInWindow = 0;
    }
    if (this.#unknownInWindow >= this.#unknownPerSecond) {
      this.#unknownSuppressed += 1;
      return undefined;
    }
    this.#unknownInWindow += 1;
    const suppressed = this.#unknownSuppressed;
    this.#unknownSuppressed = 0;
    return suppressed;
  }

  #append(entry: Entry): AuditEvent {
    const { record } = entry;
    this.#seq += 1;
    const event: AuditEvent = Object.freeze({
      seq: this.#seq,
      time: this.#clock.now(),
      event: entry.event,
      level: entry.level ?? 'info',
      session: entry.session ?? (record === undefined ? null : this.sessionRef(record.idHash)),
      subject: entry.subject ?? record?.subject ?? null,
      rule: entry.rule ?? record?.rule ?? null,
      reason: entry.reason ?? null,
      detail: Object.freeze({ ...entry.detail }),
    });
    this.#ring[(event.seq - 1) % this.#capacity] = event;
    const { level, ...line } = event;
    this.#logger[level](line);
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
    return event;
  }
}
