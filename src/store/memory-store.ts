import { StoreUnavailableError } from '../errors.js';
import { type Clock, systemClock } from '../session/clock.js';
import {
  type AccessMode,
  createRecord,
  decideAccess,
  decideRevoke,
  decideRotate,
  expireIfDue,
  nextDeadline,
  type PolicyResolver,
} from '../session/decide.js';
import type {
  EndReason,
  SessionAttrs,
  SessionChanges,
  SessionDraft,
  SessionRecord,
} from '../session/types.js';
import { ListenerSet } from './listener-set.js';
import {
  checkListQuery,
  decodeKeyCursor,
  encodeKeyCursor,
  type ListQuery,
} from './session-query.js';
import type {
  AccessResult,
  CreateResult,
  ExpireListener,
  RevokeListener,
  RevokeNotice,
  RevokeResult,
  RotateResult,
  SessionPage,
  SessionQuery,
  SessionStore,
} from './session-store.js';
import {
  COMMON_OPTION_HINTS,
  checkClock,
  checkRetainEndedMs,
  checkSweepIntervalMs,
  checkWholeMs,
  DEFAULT_RETAIN_ENDED_MS,
  DEFAULT_SWEEP_INTERVAL_MS,
  rejectUnknownOptions,
  requireOptionsObject,
} from './store-options.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Where "now" comes from. Default: the system clock. */
  readonly clock?: Clock;
  /** How long an ended session is kept (with its reason) after it can no longer matter. Default: 24 h. */
  readonly retainEndedMs?: number;
  /** How often the built-in timer sweeps; `0` turns the timer off (call `sweep()` yourself). Default: 1000. */
  readonly sweepIntervalMs?: number;
  /** Width of one expiry bucket: the sweep's time resolution. Default: 1000. */
  readonly bucketMs?: number;
}

/** The validated, frozen configuration of a {@link MemoryStore}. */
export interface MemoryStoreConfig {
  readonly clock: Clock;
  readonly retainEndedMs: number;
  readonly sweepIntervalMs: number;
  readonly bucketMs: number;
}

/** What the last sweep did: for metrics, and to show it only looked at due buckets. */
export interface SweepStats {
  /** Time buckets the sweep opened. */
  readonly bucketsVisited: number;
  /** Records found in those buckets. */
  readonly recordsVisited: number;
  /** Sessions the sweep ended (and told the listeners about). */
  readonly ended: number;
  /** Records the sweep forgot because their `purgeAt` had passed. */
  readonly purged: number;
}

/** Sizes of a {@link MemoryStore}'s structures, for metrics and diagnostics. */
export interface MemoryStoreStats {
  /** Records held, live or ended. */
  readonly records: number;
  /** Subjects with at least one record. */
  readonly subjects: number;
  /** Non-empty expiry buckets. */
  readonly buckets: number;
  readonly lastSweep: SweepStats;
}

const DEFAULTS: MemoryStoreConfig = Object.freeze({
  clock: systemClock,
  retainEndedMs: DEFAULT_RETAIN_ENDED_MS,
  sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS,
  bucketMs: 1000,
});

const KNOWN_OPTIONS = new Set(Object.keys(DEFAULTS));

/** Common misspellings, so the error can name the option that was meant. */
const OPTION_HINTS: Readonly<Record<string, string>> = {
  ...COMMON_OPTION_HINTS,
  bucket: 'bucketMs',
  bucketSizeMs: 'bucketMs',
};

const NO_SWEEP: SweepStats = Object.freeze({
  bucketsVisited: 0,
  recordsVisited: 0,
  ended: 0,
  purged: 0,
});

const UNKNOWN = Object.freeze({ outcome: 'unknown' as const });
const CONFLICT = Object.freeze({ outcome: 'conflict' as const });

/** One frozen empty attrs object shared by every session without attributes. */
const EMPTY_ATTRS: SessionAttrs = Object.freeze({});
const EMPTY_ROLES: readonly string[] = Object.freeze([]);

/** Distinct role lists interned before new ones are kept unshared (bounds the table). */
const MAX_INTERNED_ROLE_LISTS = 4_096;

function validateOptions(options: unknown): MemoryStoreConfig {
  requireOptionsObject(options, '{ retainEndedMs: 86_400_000 }, or nothing for the defaults');
  rejectUnknownOptions(options, KNOWN_OPTIONS, OPTION_HINTS, 'MemoryStore');
  const given = options as MemoryStoreOptions;
  const clock = given.clock ?? DEFAULTS.clock;
  checkClock(clock);
  const retainEndedMs = given.retainEndedMs ?? DEFAULTS.retainEndedMs;
  checkRetainEndedMs(retainEndedMs);
  const sweepIntervalMs = given.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs;
  checkSweepIntervalMs(sweepIntervalMs);
  const bucketMs = given.bucketMs ?? DEFAULTS.bucketMs;
  checkWholeMs(
    'bucketMs',
    bucketMs,
    1,
    Number.MAX_SAFE_INTEGER,
    'use a whole number of milliseconds >= 1 (the sweep resolution, e.g. 1000)',
  );
  return Object.freeze({ clock, retainEndedMs, sweepIntervalMs, bucketMs });
}

/** No attributes share one frozen object; others are copied, so the caller cannot change a stored record. */
function internAttrs(attrs: SessionAttrs | undefined): SessionAttrs {
  if (attrs === undefined || Object.keys(attrs).length === 0) return EMPTY_ATTRS;
  return Object.freeze({ ...attrs });
}

/** Who a session is, apart from its subject: shared by every session with the same values. */
interface Profile {
  readonly roles: readonly string[];
  readonly userType: string;
  readonly attrs: SessionAttrs;
}

/** Distinct profiles shared before new ones are kept per session (bounds the table). */
const MAX_SHARED_PROFILES = 4_096;

/*
 * Slot layout. A session lives in one slot of two flat arrays instead of one
 * object per record: its numbers in 8 consecutive float64s (one 64-byte cache
 * line), its references in 4 consecutive array elements. A touch rewrites the
 * numbers in place, so it leaves no old record behind for the garbage
 * collector, and a million sessions cost ~100 bytes of slot instead of ~200 of
 * objects and boxed numbers. Callers only ever get fresh `SessionRecord` copies.
 */
const CREATED_AT = 0;
const LAST_ACTIVITY_AT = 1;
/** NaN when idle is off. */
const IDLE_EXPIRES_AT = 2;
const ABSOLUTE_EXPIRES_AT = 3;
const PURGE_AT = 4;
/** NaN while live. */
const ENDED_AT = 5;
/** The index of the bucket the slot sits in. */
const BUCKET = 6;
/** 0 while live, else the index of the reason in END_REASONS. */
const END_REASON = 7;
const NUMBER_STRIDE = 8;

const ID_HASH = 0;
const SUBJECT = 1;
const PROFILE = 2;
const RULE = 3;
const REF_STRIDE = 4;

const END_REASONS: readonly EndReason[] = ['idle', 'absolute', 'revoked', 'rotated'];
const INITIAL_SLOTS = 1_024;

/** Tag of this store's list cursors. */
const CURSOR_TAG = 'm';
/** Keys `list` gathers before it sorts and keeps only the lowest: bounds its memory. */
const LIST_BUFFER = 4_096;

function endReasonCode(reason: EndReason | undefined): number {
  return reason === undefined ? 0 : END_REASONS.indexOf(reason) + 1;
}

/**
 * Sessions in this process's memory: for one instance, tests and development.
 * Nothing is shared between processes; use the SQLite or Redis store for that.
 *
 * Every method reads, decides (with `session/decide.ts`) and writes in one
 * synchronous step, so it is atomic. Expiry never scans all sessions: each
 * record sits in one time bucket, never later than the time it next needs the
 * sweep (its earliest deadline while live, its `purgeAt` once ended), and the
 * sweep opens only buckets whose time has come. The tables grow to the peak
 * number of records and reuse freed slots; they do not shrink.
 *
 * @example
 * import { MemoryStore } from 'lapse';
 * const store = new MemoryStore({ retainEndedMs: 60 * 60 * 1000 });
 * store.onExpire((record) => console.log('expired', record.subject, record.endReason));
 */
export class MemoryStore implements SessionStore {
  /** The validated options, frozen. */
  readonly options: MemoryStoreConfig;
  readonly #clock: Clock;
  readonly #retainMs: number;
  readonly #bucketMs: number;
  /** idHash to slot. */
  readonly #slots = new Map<string, number>();
  #numbers = new Float64Array(INITIAL_SLOTS * NUMBER_STRIDE);
  readonly #refs: unknown[] = [];
  /** Slots handed out so far (free ones included). */
  #slotCount = 0;
  readonly #freeSlots: number[] = [];
  /** `revokeReason` of the slots that have one (only ended sessions do). */
  readonly #revokeReasons = new Map<number, string>();
  /** Subject to its slots: a bare slot for the common one-session subject, a Set beyond. */
  readonly #bySubject = new Map<string, number | Set<number>>();
  /** Bucket index (floor(time / bucketMs)) to the slots that need the sweep then. */
  readonly #buckets = new Map<number, Set<number>>();
  /**
   * The lowest bucket the sweep has not finished with: a slot is never placed
   * below it (the sweep would not look there again).
   */
  #floorBucket = Number.NEGATIVE_INFINITY;
  readonly #roleLists = new Map<string, readonly string[]>();
  readonly #profiles = new Map<readonly string[], Map<string, Profile>>();
  #sharedProfileCount = 0;
  readonly #listeners = new ListenerSet<SessionRecord>('MemoryStore');
  readonly #revokeListeners = new ListenerSet<RevokeNotice>('MemoryStore');
  #lastSweep: SweepStats = NO_SWEEP;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.options = validateOptions(options);
    this.#clock = this.options.clock;
    this.#retainMs = this.options.retainEndedMs;
    this.#bucketMs = this.options.bucketMs;
    if (this.options.sweepIntervalMs > 0) {
      this.#timer = setInterval(() => {
        this.#sweep();
      }, this.options.sweepIntervalMs);
      this.#timer.unref();
    }
  }

  async now(): Promise<number> {
    this.#assertOpen();
    return this.#clock.now();
  }

  async create(idHash: string, draft: SessionDraft, policy: PolicyResolver): Promise<CreateResult> {
    this.#assertOpen();
    const now = this.#clock.now();
    const existing = this.#slotOf(idHash, now);
    if (existing !== undefined) return { outcome: 'exists', record: this.#read(existing) };
    const compact: SessionDraft = {
      ...draft,
      roles: this.#internRoles(draft.roles ?? EMPTY_ROLES),
      attrs: internAttrs(draft.attrs),
    };
    const record = createRecord(idHash, compact, policy, now, this.#retainMs);
    this.#insert(record);
    return { outcome: 'created', record };
  }

  async access(idHash: string, mode: AccessMode, policy: PolicyResolver): Promise<AccessResult> {
    this.#assertOpen();
    const now = this.#clock.now();
    const slot = this.#slotOf(idHash, now);
    if (slot === undefined) return UNKNOWN;
    const decision = decideAccess(this.#read(slot), policy, now, mode, this.#retainMs);
    if (decision.outcome === 'active') {
      if (decision.write !== undefined) this.#update(slot, decision.write);
    } else if (decision.endedNow) {
      this.#update(slot, decision.record);
    }
    return decision;
  }

  async revoke(idHash: string, reason: string): Promise<RevokeResult> {
    this.#assertOpen();
    const now = this.#clock.now();
    const slot = this.#slotOf(idHash, now);
    if (slot === undefined) return UNKNOWN;
    const decision = decideRevoke(this.#read(slot), now, reason, this.#retainMs);
    if (decision.outcome === 'ended' || decision.endedNow) this.#update(slot, decision.record);
    if (decision.outcome === 'ended') this.#announceRevoked([decision.record], reason);
    return decision;
  }

  async revokeSubject(subject: string, reason: string): Promise<SessionRecord[]> {
    this.#assertOpen();
    const now = this.#clock.now();
    const slots = this.#bySubject.get(subject);
    if (slots === undefined) return [];
    const revoked: SessionRecord[] = [];
    // A snapshot: a purge while looking a slot up edits the index.
    for (const slot of typeof slots === 'number' ? [slots] : [...slots]) {
      if (this.#purgeIfDue(slot, now)) continue;
      const decision = decideRevoke(this.#read(slot), now, reason, this.#retainMs);
      if (decision.outcome === 'ended') {
        this.#update(slot, decision.record);
        revoked.push(decision.record);
      } else if (decision.endedNow) {
        this.#update(slot, decision.record);
      }
    }
    this.#announceRevoked(revoked, reason);
    return revoked;
  }

  async rotate(idHash: string, newIdHash: string, changes: SessionChanges): Promise<RotateResult> {
    this.#assertOpen();
    const now = this.#clock.now();
    const slot = this.#slotOf(idHash, now);
    if (slot === undefined) return UNKNOWN;
    if (this.#slotOf(newIdHash, now) !== undefined) return CONFLICT;
    const compact: SessionChanges = {
      ...changes,
      ...(changes.roles === undefined ? {} : { roles: this.#internRoles(changes.roles) }),
      ...(changes.attrs === undefined ? {} : { attrs: internAttrs(changes.attrs) }),
    };
    const decision = decideRotate(this.#read(slot), newIdHash, compact, now, this.#retainMs);
    if (decision.outcome === 'rotated') {
      this.#update(slot, decision.retired);
      this.#insert(decision.successor);
    } else if (decision.endedNow) {
      this.#update(slot, decision.record);
    }
    return decision;
  }

  async get(idHash: string): Promise<SessionRecord | undefined> {
    this.#assertOpen();
    const slot = this.#slotOf(idHash, this.#clock.now());
    return slot === undefined ? undefined : this.#read(slot);
  }

  /**
   * By idHash ascending (JS string order). One pass over the candidates (a
   * subject's own slots when the query names one), keeping only the lowest
   * `limit + 1` keys after the cursor: the page costs O(n log limit), not a
   * sort of the whole store. Read-only: a record past `purgeAt` is skipped,
   * not forgotten.
   */
  async list(query?: SessionQuery): Promise<SessionPage> {
    const checked = checkListQuery(query);
    const after =
      checked.cursor === undefined ? undefined : decodeKeyCursor(CURSOR_TAG, checked.cursor);
    this.#assertOpen();
    const now = this.#clock.now();
    const keep = checked.limit + 1;
    let lowest: string[] = [];
    /** Once `lowest` holds `keep` keys, no key above its last one can make the page. */
    let bound: string | undefined;
    const consider = (slot: number): void => {
      const idHash = this.#refs[slot * REF_STRIDE + ID_HASH] as string;
      if (after !== undefined && idHash <= after) return;
      if (bound !== undefined && idHash >= bound) return;
      if (!this.#matches(slot, checked, now)) return;
      lowest.push(idHash);
      if (lowest.length < LIST_BUFFER + keep) return;
      lowest = lowest.sort().slice(0, keep);
      bound = lowest[keep - 1];
    };
    if (checked.subject === undefined) {
      for (const slot of this.#slots.values()) consider(slot);
    } else {
      const slots = this.#bySubject.get(checked.subject);
      if (typeof slots === 'number') consider(slots);
      else if (slots !== undefined) for (const slot of slots) consider(slot);
    }
    lowest.sort();
    const page = lowest.slice(0, checked.limit);
    const records = page.map((idHash) => this.#read(this.#slots.get(idHash) as number));
    const last = page[page.length - 1];
    const isMore = lowest.length > checked.limit && last !== undefined;
    return { now, records, next: isMore ? encodeKeyCursor(CURSOR_TAG, last) : null };
  }

  async sweep(): Promise<SessionRecord[]> {
    this.#assertOpen();
    return this.#sweep();
  }

  onExpire(listener: ExpireListener): () => void {
    return this.#listeners.add(listener);
  }

  onRevoke(listener: RevokeListener): () => void {
    return this.#revokeListeners.add(listener);
  }

  /** Tell revoke listeners, after the writes, so one that calls back sees a settled state. */
  #announceRevoked(records: readonly SessionRecord[], reason: string): void {
    for (const record of records) {
      this.#revokeListeners.notify({ idHash: record.idHash, subject: record.subject, reason });
    }
  }

  async close(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#closed = true;
    this.#slots.clear();
    this.#bySubject.clear();
    this.#buckets.clear();
    this.#revokeReasons.clear();
    this.#listeners.clear();
    this.#revokeListeners.clear();
    this.#refs.length = 0;
    this.#freeSlots.length = 0;
    this.#slotCount = 0;
    this.#numbers = new Float64Array(0);
  }

  /** Sizes of the store's structures and what the last sweep did. Changes nothing. */
  stats(): MemoryStoreStats {
    return {
      records: this.#slots.size,
      subjects: this.#bySubject.size,
      buckets: this.#buckets.size,
      lastSweep: this.#lastSweep,
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreUnavailableError('the memory store is closed');
  }

  /** The slot of `idHash`, forgetting it instead when its `purgeAt` has passed. */
  #slotOf(idHash: string, now: number): number | undefined {
    const slot = this.#slots.get(idHash);
    if (slot === undefined || this.#purgeIfDue(slot, now)) return undefined;
    return slot;
  }

  #purgeIfDue(slot: number, now: number): boolean {
    if ((this.#numbers[slot * NUMBER_STRIDE + PURGE_AT] as number) > now) return false;
    this.#unplace(slot);
    this.#forget(slot);
    return true;
  }

  /**
   * Whether a slot's record is kept at `now` and is one `query` asks for:
   * `matchesListQuery` read straight from the slot, so the records a page
   * passes over are never built.
   */
  #matches(slot: number, query: ListQuery, now: number): boolean {
    const numbers = this.#numbers;
    const n = slot * NUMBER_STRIDE;
    const r = slot * REF_STRIDE;
    if ((numbers[n + PURGE_AT] as number) <= now) return false;
    if (query.subject !== undefined && this.#refs[r + SUBJECT] !== query.subject) return false;
    if (query.rule !== undefined && this.#refs[r + RULE] !== query.rule) return false;
    if (
      query.role !== undefined &&
      !(this.#refs[r + PROFILE] as Profile).roles.includes(query.role)
    )
      return false;
    if (query.state === 'any') return true;
    const idle = numbers[n + IDLE_EXPIRES_AT] as number;
    const isLive =
      (numbers[n + END_REASON] as number) === 0 &&
      now < (numbers[n + ABSOLUTE_EXPIRES_AT] as number) &&
      (Number.isNaN(idle) || now < idle);
    return isLive === (query.state === 'live');
  }

  /** A fresh record from a slot: what callers and the decisions see. */
  #read(slot: number): SessionRecord {
    const numbers = this.#numbers;
    const n = slot * NUMBER_STRIDE;
    const r = slot * REF_STRIDE;
    const profile = this.#refs[r + PROFILE] as Profile;
    const idleExpiresAt = numbers[n + IDLE_EXPIRES_AT] as number;
    const record: SessionRecord = {
      idHash: this.#refs[r + ID_HASH] as string,
      subject: this.#refs[r + SUBJECT] as string,
      roles: profile.roles,
      userType: profile.userType,
      attrs: profile.attrs,
      createdAt: numbers[n + CREATED_AT] as number,
      lastActivityAt: numbers[n + LAST_ACTIVITY_AT] as number,
      idleExpiresAt: Number.isNaN(idleExpiresAt) ? null : idleExpiresAt,
      absoluteExpiresAt: numbers[n + ABSOLUTE_EXPIRES_AT] as number,
      rule: this.#refs[r + RULE] as string,
      purgeAt: numbers[n + PURGE_AT] as number,
    };
    const code = numbers[n + END_REASON] as number;
    if (code === 0) return record;
    const revokeReason = this.#revokeReasons.get(slot);
    return {
      ...record,
      endedAt: numbers[n + ENDED_AT] as number,
      endReason: END_REASONS[code - 1] as EndReason,
      ...(revokeReason === undefined ? {} : { revokeReason }),
    };
  }

  /** Store `record`'s state in `slot` (its id and subject are already there). */
  #write(slot: number, record: SessionRecord): void {
    const numbers = this.#numbers;
    const n = slot * NUMBER_STRIDE;
    const r = slot * REF_STRIDE;
    numbers[n + CREATED_AT] = record.createdAt;
    numbers[n + LAST_ACTIVITY_AT] = record.lastActivityAt;
    numbers[n + IDLE_EXPIRES_AT] = record.idleExpiresAt ?? Number.NaN;
    numbers[n + ABSOLUTE_EXPIRES_AT] = record.absoluteExpiresAt;
    numbers[n + PURGE_AT] = record.purgeAt;
    numbers[n + ENDED_AT] = record.endedAt ?? Number.NaN;
    numbers[n + END_REASON] = endReasonCode(record.endReason);
    this.#refs[r + RULE] = record.rule;
    const profile = this.#refs[r + PROFILE] as Profile | undefined;
    if (
      profile === undefined ||
      profile.roles !== record.roles ||
      profile.userType !== record.userType ||
      profile.attrs !== record.attrs
    ) {
      this.#refs[r + PROFILE] = this.#profileOf(record);
    }
    if (record.revokeReason !== undefined) this.#revokeReasons.set(slot, record.revokeReason);
  }

  #insert(record: SessionRecord): void {
    const slot = this.#allocate();
    const r = slot * REF_STRIDE;
    this.#refs[r + ID_HASH] = record.idHash;
    this.#refs[r + SUBJECT] = record.subject;
    this.#write(slot, record);
    this.#slots.set(record.idHash, slot);
    const slots = this.#bySubject.get(record.subject);
    if (slots === undefined) this.#bySubject.set(record.subject, slot);
    else if (typeof slots === 'number') this.#bySubject.set(record.subject, new Set([slots, slot]));
    else slots.add(slot);
    this.#place(slot, this.#dueBucket(record));
  }

  /**
   * Write a new version of a slot's record. A slot may sit in a bucket earlier
   * than its record needs (the sweep moves it on when it gets there), never
   * later: so a touch, which only pushes deadlines out, moves nothing, and only
   * a deadline brought closer (a stricter policy) moves the slot.
   */
  #update(slot: number, record: SessionRecord): void {
    this.#write(slot, record);
    const due = this.#dueBucket(record);
    if (due < (this.#numbers[slot * NUMBER_STRIDE + BUCKET] as number)) {
      this.#unplace(slot);
      this.#place(slot, due);
    }
  }

  /** The bucket a record needs the sweep in: its next deadline while live, its `purgeAt` once ended. */
  #dueBucket(record: SessionRecord): number {
    const at = record.endReason === undefined ? nextDeadline(record) : record.purgeAt;
    return Math.max(Math.floor(at / this.#bucketMs), this.#floorBucket);
  }

  #place(slot: number, index: number): void {
    this.#numbers[slot * NUMBER_STRIDE + BUCKET] = index;
    const bucket = this.#buckets.get(index);
    if (bucket === undefined) this.#buckets.set(index, new Set([slot]));
    else bucket.add(slot);
  }

  #unplace(slot: number): void {
    const index = this.#numbers[slot * NUMBER_STRIDE + BUCKET] as number;
    const bucket = this.#buckets.get(index);
    if (bucket === undefined || !bucket.delete(slot)) return;
    if (bucket.size === 0) this.#buckets.delete(index);
  }

  #allocate(): number {
    const reused = this.#freeSlots.pop();
    if (reused !== undefined) return reused;
    const slot = this.#slotCount++;
    if ((slot + 1) * NUMBER_STRIDE > this.#numbers.length) {
      const grown = new Float64Array(this.#numbers.length * 2);
      grown.set(this.#numbers);
      this.#numbers = grown;
    }
    this.#refs.push(undefined, undefined, undefined, undefined);
    return slot;
  }

  /** Drop a slot's record and its subject index entry; the caller has taken it out of its bucket. */
  #forget(slot: number): void {
    const r = slot * REF_STRIDE;
    const idHash = this.#refs[r + ID_HASH] as string;
    const subject = this.#refs[r + SUBJECT] as string;
    this.#slots.delete(idHash);
    const slots = this.#bySubject.get(subject);
    if (slots === slot) {
      this.#bySubject.delete(subject);
    } else if (typeof slots === 'object') {
      slots.delete(slot);
      if (slots.size === 1) {
        const [only] = slots;
        this.#bySubject.set(subject, only as number);
      }
    }
    this.#revokeReasons.delete(slot);
    this.#refs[r + ID_HASH] = undefined;
    this.#refs[r + SUBJECT] = undefined;
    this.#refs[r + PROFILE] = undefined;
    this.#refs[r + RULE] = undefined;
    this.#freeSlots.push(slot);
  }

  /** Which buckets at or below `target` exist, lowest first, without walking empty indexes. */
  #dueBuckets(target: number): number[] {
    const from = this.#floorBucket;
    const due: number[] = [];
    if (target - from + 1 > this.#buckets.size) {
      for (const index of this.#buckets.keys()) if (index <= target) due.push(index);
      return due.sort((a, b) => a - b);
    }
    for (let index = from; index <= target; index++) if (this.#buckets.has(index)) due.push(index);
    return due;
  }

  #sweep(): SessionRecord[] {
    const now = this.#clock.now();
    // Never below the floor: if the clock stepped back, the floor bucket still
    // holds slots placed there early (their deadlines are earlier) and may be due.
    const target = Math.max(Math.floor(now / this.#bucketMs), this.#floorBucket);
    const due = this.#dueBuckets(target);
    // Everything below `target` is handled in this call; the current bucket
    // (partly in the future) is opened again by every sweep until time passes it.
    this.#floorBucket = target;
    const ended: SessionRecord[] = [];
    let recordsVisited = 0;
    let purged = 0;
    for (const index of due) {
      const bucket = this.#buckets.get(index);
      if (bucket === undefined) continue;
      // Detached, so slots placed again (always at `target` or later) land in a fresh set.
      this.#buckets.delete(index);
      for (const slot of bucket) {
        recordsVisited++;
        const record = this.#read(slot);
        const current =
          record.endReason === undefined ? expireIfDue(record, now, this.#retainMs) : record;
        if (current === undefined) {
          this.#place(slot, this.#dueBucket(record));
          continue;
        }
        if (current !== record) {
          this.#write(slot, current);
          ended.push(current);
        }
        if (current.purgeAt <= now) {
          this.#forget(slot);
          purged++;
        } else {
          this.#place(slot, this.#dueBucket(current));
        }
      }
    }
    this.#lastSweep = { bucketsVisited: due.length, recordsVisited, ended: ended.length, purged };
    // Listeners run after every write, so one that calls back into the store sees a settled state.
    for (const record of ended) this.#listeners.notify(record);
    return ended;
  }

  /** Equal role lists share one frozen array. */
  #internRoles(roles: readonly string[]): readonly string[] {
    if (roles.length === 0) return EMPTY_ROLES;
    const key = JSON.stringify(roles);
    const known = this.#roleLists.get(key);
    if (known !== undefined) return known;
    const frozen = Object.freeze([...roles]);
    if (this.#roleLists.size < MAX_INTERNED_ROLE_LISTS) this.#roleLists.set(key, frozen);
    return frozen;
  }

  /** Sessions without attrs and with equal (interned) roles and user type share one profile. */
  #profileOf(record: SessionRecord): Profile {
    const { roles, userType, attrs } = record;
    if (attrs !== EMPTY_ATTRS) return Object.freeze({ roles, userType, attrs });
    let byUserType = this.#profiles.get(roles);
    const shared = byUserType?.get(userType);
    if (shared !== undefined) return shared;
    const profile: Profile = Object.freeze({ roles, userType, attrs });
    if (this.#sharedProfileCount >= MAX_SHARED_PROFILES) return profile;
    if (byUserType === undefined) {
      byUserType = new Map();
      this.#profiles.set(roles, byUserType);
    }
    byUserType.set(userType, profile);
    this.#sharedProfileCount++;
    return profile;
  }
}
