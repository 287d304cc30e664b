/**
 * The checks and helpers every store's `list` shares: the query checked once
 * with its defaults, the live/ended test, the filters, and the cursor of the
 * stores ordered by idHash (memory, SQLite).
 */
import { OptionError } from '../errors.js';
import { nextDeadline } from '../session/decide.js';
import type { SessionRecord } from '../session/types.js';
import type { SessionQuery } from './session-store.js';

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
