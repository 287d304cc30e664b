import type {
  AccessDecision,
  AccessMode,
  EndDecision,
  PolicyResolver,
  RotateDecision,
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
