import { OptionError } from '../errors.js';
import {
  type AccessDecision,
  type AccessMode,
  type EndDecision,
  nextDeadline,
  type PolicyResolver,
  type RotateDecision,
} from '../session/decide.js';
import type { SessionChanges, SessionDraft, SessionRecord } from '../session/types.js';

/** Result of {@link SessionStore.access}. */
export type AccessResult = AccessDecision | { readonly outcome: 'unknown' };

/** Result of {@link SessionStore.create}. */
export type CreateResult =
  | { readonly outcome: 'created'; readonly record: SessionRecord }
  | { readonly outcome: 'exists'; readonly record: SessionRecord };

/** Result of {@link SessionStore.revoke}. */
export type RevokeResult = EndDecision | { readonly outcome: 'unknown' };

/** Result of {@link SessionStore.rotate}. */
export type RotateResult =
  | RotateDecision
  | { readonly outcome: 'unknown' }
  | { readonly outcome: 'conflict' };

/** Which sessions {@link SessionStore.list} returns. */
export interface SessionQuery {
  /** Only this subject (exact match). */
  readonly subject?: string;
  /** Only sessions whose roles include this one. */
  readonly role?: string;
  /** Only sessions whose deciding rule (record.rule) is this (`defaults` for none). */
  readonly rule?: string;
  /**
   * `live` (default): not ended and, on the store's clock, before its stored deadlines
   * (now < absoluteExpiresAt and (idleExpiresAt === null or now < idleExpiresAt));
   * `ended`: everything else still kept (ended, or past a stored deadline but not yet swept);
   * `any`: both.
   */
  readonly state?: 'live' | 'ended' | 'any';
  /** The `next` of the page before; absent for the first page. */
  readonly cursor?: string;
  /** Most records in one page: a whole number 1..1000. Default 100. */
  readonly limit?: number;
}

/** One page of {@link SessionStore.list}. */
export interface SessionPage {
  /** The store's clock when the page was read (what `state` was judged at). */
  readonly now: number;
  readonly records: SessionRecord[];
  /** Pass as `cursor` to read the next page; `null` when there is no more. */
  readonly next: string | null;
}

/** Called once for each session a store's own sweep ended. */
export type ExpireListener = (record: SessionRecord) => void;

/** A revocation, as every instance sharing a store hears of it. */
export interface RevokeNotice {
  readonly idHash: string;
  readonly subject: string;
  readonly reason: string;
}

/** Called for every revocation made through any instance sharing the store. */
export type RevokeListener = (notice: RevokeNotice) => void;

/**
 * Where sessions live. Every implementation (memory, SQLite, Redis) passes the
 * one conformance suite in `test/store-conformance.ts`.
 *
 * Contract:
 * - keys are `idHash` (SHA-256 of the id): a store never sees a session id;
 * - every decision is made with the store's own clock (`now()`), which is the
 *   authority when many instances share one store;
 * - each method that decides (`create`, `access`, `revoke`, `rotate`,
 *   `sweep`) reads, decides with `session/decide.ts` and writes as ONE atomic
 *   step: no interleaving of calls, on any instance, can observe or produce a
 *   state the decisions would not;
 * - no record is held without an expiry (`purgeAt`); an ended record is kept,
 *   with its reason, until then;
 * - when the store cannot be reached every method rejects with
 *   `StoreUnavailableError` (code `LAPSE_STORE_UNAVAILABLE`).
 */
export interface SessionStore {
  /** The store's clock, epoch ms. */
  now(): Promise<number>;
  /** Insert a new session unless one with this key exists. */
  create(idHash: string, draft: SessionDraft, policy: PolicyResolver): Promise<CreateResult>;
  /** Check, and for `touch` also touch, one session atomically. */
  access(idHash: string, mode: AccessMode, policy: PolicyResolver): Promise<AccessResult>;
  /** End one session as revoked (unless it already ended: then its reason stands). */
  revoke(idHash: string, reason: string): Promise<RevokeResult>;
  /** Revoke every live session of a subject; returns the records revoked. */
  revokeSubject(subject: string, reason: string): Promise<SessionRecord[]>;
  /**
   * Retire `idHash` and move the session to `newIdHash` with the same deadlines.
   * `conflict` when `newIdHash` is already taken (nothing changes).
   */
  rotate(idHash: string, newIdHash: string, changes: SessionChanges): Promise<RotateResult>;
  /** The record as stored, ended or not; no decision, no write. */
  get(idHash: string): Promise<SessionRecord | undefined>;
  /**
   * One page of the records kept (a record past `purgeAt` is not), in an
   * order fixed per store, filtered by `query`. Read-only: no write, no sweep,
   * no event. Walking `next` until it is `null` returns every matching record
   * that existed, unchanged, during the whole walk exactly once, and no record
   * twice, whatever is created or ended meanwhile.
   * @throws OptionError (code `LAPSE_OPTION_INVALID`, `option` naming the field) for a bad
   *   `limit` or `state`, a filter that is not a string, an unknown field, or a `cursor`
   *   this store did not produce.
   *
   * @example
   * let page = await store.list({ subject: 'alice', limit: 50 });
   * for (;;) {
   *   for (const record of page.records) console.log(record.idHash, record.rule);
   *   if (page.next === null) break;
   *   page = await store.list({ subject: 'alice', limit: 50, cursor: page.next });
   * }
   */
  list(query?: SessionQuery): Promise<SessionPage>;
  /**
   * End every live session whose stored deadline has passed (each exactly once,
   * across every instance sharing the store), tell the expire listeners, and
   * forget records past `purgeAt`. Returns the sessions this call ended.
   */
  sweep(): Promise<SessionRecord[]>;
  /** Listen for sessions ended by the sweep; returns a function that stops listening. */
  onExpire(listener: ExpireListener): () => void;
  /**
   * Listen for revocations (`revoke`, `revokeSubject`) made through ANY
   * instance sharing this store, this one included, so every instance can
   * close that session's open connections. Delivered within a second, once per
   * revocation per listening instance. Returns a function that stops listening.
   */
  onRevoke(listener: RevokeListener): () => void;
  /** Stop timers and release connections. */
  close(): Promise<void>;
}

/** Records per page of {@link SessionStore.list} when the query names no `limit`. */
export const DEFAULT_LIST_LIMIT = 100;

/** Most records one page of {@link SessionStore.list} may ask for. */
export const MAX_LIST_LIMIT = 1_000;

/** A {@link SessionQuery} checked once, with its defaults filled in. */
export interface ListQuery {
  readonly subject: string | undefined;
  readonly role: string | undefined;
  readonly rule: string | undefined;
  readonly state: 'live' | 'ended' | 'any';
  /** Still as the caller gave it: each store decodes its own cursor. */
  readonly cursor: string | undefined;
  readonly limit: number;
}

const QUERY_FIELDS: ReadonlySet<string> = new Set([
  'subject',
  'role',
  'rule',
  'state',
  'cursor',
  'limit',
]);
const STATES: ReadonlySet<unknown> = new Set(['live', 'ended', 'any']);

function optionalString(
  query: Readonly<Record<string, unknown>>,
  field: string,
): string | undefined {
  const value = query[field];
  if (value === undefined || typeof value === 'string') return value;
  throw new OptionError(field, `got ${typeof value}; expected a string (or leave it out)`);
}

/**
 * Check a {@link SessionQuery} the way every store does, before it reads
 * anything, and fill in the defaults (`state` live, `limit` 100). A field this
 * function does not know is refused too: a misspelled filter must not silently
 * list everyone.
 * @throws OptionError naming the field.
 *
 * @example
 * const { limit, state } = checkListQuery({ state: 'ended' }); // 100, 'ended'
 */
export function checkListQuery(query: unknown): ListQuery {
  if (query === undefined) {
    return {
      subject: undefined,
      role: undefined,
      rule: undefined,
      state: 'live',
      cursor: undefined,
      limit: DEFAULT_LIST_LIMIT,
    };
  }
  if (typeof query !== 'object' || query === null || Array.isArray(query)) {
    throw new OptionError('query', "expected an object such as { subject: 'alice', limit: 50 }");
  }
  const given = query as Readonly<Record<string, unknown>>;
  for (const field of Object.keys(given)) {
    if (!QUERY_FIELDS.has(field)) {
      throw new OptionError(field, `unknown field; a query takes ${[...QUERY_FIELDS].join(', ')}`);
    }
  }
  const state = given.state === undefined ? 'live' : given.state;
  if (!STATES.has(state)) {
    throw new OptionError('state', `got ${String(state)}; use live, ended or any`);
  }
  const limit = given.limit === undefined ? DEFAULT_LIST_LIMIT : given.limit;
  if (
    typeof limit !== 'number' ||
    !Number.isInteger(limit) ||
    limit < 1 ||
    limit > MAX_LIST_LIMIT
  ) {
    throw new OptionError(
      'limit',
      `got ${String(limit)}; use a whole number of records from 1 to ${MAX_LIST_LIMIT}`,
    );
  }
  return {
    subject: optionalString(given, 'subject'),
    role: optionalString(given, 'role'),
    rule: optionalString(given, 'rule'),
    state: state as ListQuery['state'],
    cursor: optionalString(given, 'cursor'),
    limit,
  };
}

/**
 * Whether `record` is live at `now` as {@link SessionQuery.state} means it:
 * not ended and before its stored deadlines (half-open, like every decision).
 */
export function isLiveAt(record: SessionRecord, now: number): boolean {
  return record.endReason === undefined && now < nextDeadline(record);
}

/** Whether a record kept at `now` (before its `purgeAt`) is one `query` asks for. */
export function matchesListQuery(record: SessionRecord, query: ListQuery, now: number): boolean {
  if (query.subject !== undefined && record.subject !== query.subject) return false;
  if (query.rule !== undefined && record.rule !== query.rule) return false;
  if (query.role !== undefined && !record.roles.includes(query.role)) return false;
  if (query.state === 'any') return true;
  return isLiveAt(record, now) === (query.state === 'live');
}

/** A cursor of a store ordered by idHash: a tag naming the store, then the idHash in base64url. */
const KEY_CURSOR = /^([a-z]+)\.([A-Za-z0-9_-]*)$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The cursor after `idHash` for a store ordered by idHash (memory, SQLite).
 * Opaque to callers: `tag` names the store, so one store's cursor is not
 * taken for another's, and any key that is well-formed UTF-16 round-trips, not
 * only canonical hashes (a key with a lone surrogate would come back as U+FFFD).
 *
 * @example
 * encodeKeyCursor('m', 'abc'); // 'm.YWJj'
 */
export function encodeKeyCursor(tag: string, idHash: string): string {
  return `${tag}.${Buffer.from(idHash, 'utf8').toString('base64url')}`;
}

/**
 * The idHash inside a cursor {@link encodeKeyCursor} made with `tag`.
 * @throws OptionError for option `cursor` when this store did not produce it.
 */
export function decodeKeyCursor(tag: string, cursor: string): string {
  const match = KEY_CURSOR.exec(cursor);
  const payload = match?.[2];
  if (match !== null && match[1] === tag && payload !== undefined) {
    const bytes = Buffer.from(payload, 'base64url');
    // Only the exact text this store writes: no padding variants, no stray bits, valid UTF-8.
    if (bytes.toString('base64url') === payload) {
      try {
        return UTF8.decode(bytes);
      } catch {
        // Not UTF-8: not a cursor of ours; refused below.
      }
    }
  }
  throw new OptionError(
    'cursor',
    'not a cursor of this store; pass the `next` of the page before, unchanged, or leave it out',
  );
}
