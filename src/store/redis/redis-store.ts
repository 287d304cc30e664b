import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { ErrorCodes, LapseError, OptionError, StoreUnavailableError } from '../../errors.js';
import type { Clock } from '../../session/clock.js';
import {
  type AccessMode,
  deadlinesFor,
  decideAccess,
  nextDeadline,
  type PolicyResolver,
  statusAt,
  successorOf,
} from '../../session/decide.js';
import type {
  EndReason,
  SessionChanges,
  SessionDraft,
  SessionRecord,
} from '../../session/types.js';
import { ListenerSet } from '../listener-set.js';
import { checkListQuery, type ListQuery, matchesListQuery } from '../session-query.js';
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
} from '../session-store.js';
import { reportBackgroundError } from '../store-warnings.js';
import {
  idHashOfMember,
  indexMember,
  isCanonicalIdHash,
  isMemberOf,
  KeySpace,
  SHARD_COUNT,
  subjectSlot,
} from './keys.js';
import { type RedisStoreConfig, type RedisStoreOptions, validateOptions } from './options.js';
import { policyTableOf } from './policy-table.js';
import {
  decodeRecord,
  decodeText,
  encodeRecord,
  encodeText,
  encodeTextFields,
  FIELD,
} from './record-codec.js';
import { SCRIPTS } from './scripts.js';

type Client = Redis | Cluster;
type ScriptCommand = (key: string, ...args: (string | number)[]) => Promise<unknown>;
type Commands = Client & Record<keyof typeof SCRIPTS, ScriptCommand>;

/** [code, packed record, now, extra]: see the reply of each script in scripts.ts. */
type RecordReply = [number, string, number, ...(string | number)[]];

/** Connections the store opens from a URL fail fast instead of queueing (fail closed). */
const URL_CONNECTION: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1_000,
  connectTimeout: 1_000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
};

/** How long a call made while the first connection is still being set up waits for it. */
const FIRST_CONNECT_WAIT_MS = 2_000;
/** How long a rotation holds its new id before writing the successor there. */
const RESERVATION_MS = 60_000;
/** The sweep queue is refreshed by every sweep; it expires only when no instance runs for this long. */
const QUEUE_TTL_MS = 24 * 60 * 60 * 1000;
/** Shards the sweep takes from the queue per round trip. */
const TAKE_LIMIT = 256;
/** Rounds of taking per sweep call, so one call always ends. */
const MAX_TAKES = 16;
/** Due members the sweep reads from one shard per round trip. */
const SHARD_BATCH = 256;
/** Shards swept at once. */
const SHARD_CONCURRENCY = 16;
/**
 * Shards each sweep re-enters into the queue whatever the queue says, round
 * robin: a process that died between writing a shard and the queue delays that
 * shard's expiry events by at most 4096 / 16 sweeps, never loses them.
 */
const RECONCILE_PER_SWEEP = 16;
/** Shards `list` reads in its first round; each round doubles it, up to LIST_WINDOW_MAX. */
const LIST_WINDOW_MIN = 64;
const LIST_WINDOW_MAX = 1_024;
/** Fewest records `list` GETs in one round trip, however few the page still needs. */
const LIST_GET_MIN = 64;
/** Commands at once on a Cluster, where a pipeline may not span nodes. */
const LIST_CONCURRENCY = 64;
/** `<shard>:<idHash>`: the position of the last record a page returned. */
const SHARD_CURSOR = /^(0|[1-9][0-9]{0,3}):(.+)$/;
/** Length of an index member: a 43-character idHash and a 2-character fingerprint. */
const MEMBER_LENGTH = 45;
/** What a rotation in progress stores under the id it reserved: never a record. */
const RESERVED = '~';

/** Optimistic writes tried before giving up (only for resolvers that are not a ContextPolicy). */
const MAX_SWAPS = 8;

const UNKNOWN = Object.freeze({ outcome: 'unknown' as const });
const CONFLICT = Object.freeze({ outcome: 'conflict' as const });

/** Anything that went wrong talking to Redis, as the one error enforcement fails closed on. */
function unavailable(error: unknown): LapseError {
  if (error instanceof LapseError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`the Redis session store failed: ${detail}`, { cause: error });
}

async function quietly(client: Client): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/** An idHash a caller wants stored; anything but a canonical SHA-256 is refused. */
function requireCanonical(idHash: string, option: string): void {
  if (!isCanonicalIdHash(idHash)) {
    throw new OptionError(
      option,
      'expected the base64url SHA-256 of a session id (43 characters), as hashSessionId returns',
    );
  }
}

/** Where a list walk stands: in shard order, then idHash order within a shard. */
interface ListPosition {
  readonly shard: number;
  readonly idHash: string;
}

/** The position inside a list cursor this store wrote. */
function decodeShardCursor(cursor: string): ListPosition {
  const match = SHARD_CURSOR.exec(cursor);
  const shard = Number(match?.[1]);
  const idHash = match?.[2] ?? '';
  if (match === null || shard >= SHARD_COUNT || !isCanonicalIdHash(idHash)) {
    throw new OptionError(
      'cursor',
      'not a cursor of this store; pass the `next` of the page before, unchanged, or leave it out',
    );
  }
  return { shard, idHash };
}

/** One index member a list walk may return, in walk order. */
interface ListCandidate {
  readonly shard: number;
  readonly member: string;
  readonly idHash: string;
}

async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  step: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await step(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Redis's clock, epoch ms. */
async function redisTime(client: Client): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * Sessions in Redis, shared by every instance that uses the same Redis and
 * key prefix: standalone, Sentinel (an ioredis client with `sentinels`) or
 * Cluster.
 *
 * Every decision is ONE Lua script over ONE key, run atomically by Redis on
 * Redis's clock (`TIME`), so instances with skewed clocks agree: a check and
 * touch is one round trip (`EVALSHA`, falling back to `EVAL` once per server
 * after a restart). The script resolves the session's idle and absolute
 * timeouts from a compact table of the context policy's rules, decides
 * exactly like `decideAccess`, and writes with `PXAT purgeAt`: no key is ever
 * left without an expiry, and only the SHA-256 of ids is stored.
 *
 * A subject's sessions are indexed in one of 4096 sorted sets (score: when a
 * session next needs the sweep), which serve both "sign out everywhere" and
 * the sweep; a queue of shards tells the sweep where to look. Revocations are
 * published on `<prefix>revoked` in the revoking script, and every instance's
 * subscriber tells its `onRevoke` listeners. When Redis cannot be reached,
 * every method rejects with `StoreUnavailableError`; the store recovers by
 * itself when Redis returns.
 *
 * @example
 * import { SessionAuthority, loadPolicyFile } from 'lapse';
 * import { RedisStore } from 'lapse/redis';
 * const store = new RedisStore({ redis: 'redis://127.0.0.1:6379' });
 * await store.ready();
 * const authority = new SessionAuthority({ policy: await loadPolicyFile('lapse.yaml'), store });
 */
export class RedisStore implements SessionStore {
  /** The validated options, frozen (without the client or URL, which may hold a password). */
  readonly options: RedisStoreConfig;
  readonly #redis: Commands;
  readonly #subscriber: Client;
  readonly #ownsClient: boolean;
  readonly #isCluster: boolean;
  readonly #keys: KeySpace;
  readonly #clock: Clock | undefined;
  readonly #retainMs: number;
  readonly #retain: string;
  readonly #listeners = new ListenerSet<SessionRecord>('RedisStore');
  readonly #revokeListeners = new ListenerSet<RevokeNotice>('RedisStore');
  readonly #subscribed: Promise<void>;
  /** Settles once the first connection attempt did (either way); then `undefined`. */
  #firstConnect: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping = false;
  #sweepFailing = false;
  #reconcileCursor: number;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    const { config, redis } = validateOptions(options);
    this.options = config;
    this.#keys = new KeySpace(config.keyPrefix);
    this.#clock = config.clock;
    this.#retainMs = config.retainEndedMs;
    this.#retain = String(config.retainEndedMs);
    this.#ownsClient = typeof redis === 'string';
    const client: Client = typeof redis === 'string' ? new Redis(redis, URL_CONNECTION) : redis;
    if (this.#ownsClient) client.on('error', () => undefined);
    this.#isCluster = client.isCluster;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      client.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.#redis = client as Commands;
    this.#firstConnect = this.#watchFirstConnect(client);
    this.#reconcileCursor = Math.floor(Math.random() * SHARD_COUNT);

    this.#subscriber = this.#isCluster
      ? (client as Cluster).duplicate(undefined, { enableOfflineQueue: true })
      : (client as Redis).duplicate({
          enableOfflineQueue: true,
          maxRetriesPerRequest: null,
          commandTimeout: undefined,
        });
    this.#subscriber.on('error', () => undefined);
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.#keys.channel) this.#heard(message);
    });
    this.#subscribed = this.#subscriber.subscribe(this.#keys.channel).then(() => undefined);
    this.#subscribed.catch(() => undefined);

    if (config.sweepIntervalMs > 0) {
      this.#timer = setInterval(() => {
        void this.#tick();
      }, config.sweepIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Resolves once Redis answers and this instance listens for revocations;
   * rejects with `StoreUnavailableError` if that takes more than about two
   * seconds. Call it at startup: revocations published before the
   * subscription is in place are not heard by this instance.
   */
  async ready(): Promise<void> {
    const client = await this.#client();
    try {
      await client.ping();
    } catch (error) {
      throw unavailable(error);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StoreUnavailableError('the Redis revocation subscription is not ready')),
        FIRST_CONNECT_WAIT_MS,
      );
    });
    try {
      await Promise.race([this.#subscribed, timeout]);
    } catch (error) {
      throw unavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  async now(): Promise<number> {
    const client = await this.#client();
    if (this.#clock !== undefined) return Math.floor(this.#clock.now());
    try {
      return await redisTime(client);
    } catch (error) {
      throw unavailable(error);
    }
  }

  async create(idHash: string, draft: SessionDraft, policy: PolicyResolver): Promise<CreateResult> {
    const now = this.#nowArg();
    requireCanonical(idHash, 'idHash');
    const client = await this.#client();
    const roles = draft.roles ?? [];
    const userType = draft.userType ?? 'human';
    const effective = policy.resolve({ roles, userType });
    const createdAt = draft.createdAt === undefined ? '' : String(Math.floor(draft.createdAt));
    const idle = effective.idleMs === null ? '-' : String(effective.idleMs);
    const absolute = String(effective.absoluteMs);
    const slot = subjectSlot(draft.subject);
    const member = indexMember(idHash, slot);
    const shardKey = this.#keys.shard(slot.shard);
    const texts = encodeTextFields({
      subject: draft.subject,
      roles,
      rule: effective.from.idle,
      userType,
      attrs: draft.attrs ?? {},
    });
    try {
      // The index first: a record is never stored where the sweep and
      // revokeSubject cannot find it. The queue entry (score 0) has the sweep
      // look at the shard once and file it under its real earliest time.
      const [score, , reply] = (await this.#inOrder([
        () =>
          client.lapseIndex(shardKey, now, member, 'c', createdAt, idle, absolute, this.#retain),
        () => client.lapseEnqueue(this.#keys.queue, QUEUE_TTL_MS, 0, slot.shard),
        () =>
          client.lapseCreate(
            this.#keys.session(idHash),
            now,
            this.#retain,
            createdAt,
            idle,
            absolute,
            texts,
          ),
      ])) as [number, unknown, RecordReply];
      if (reply[0] === 3) {
        throw new StoreUnavailableError('that session id is being taken by a rotation');
      }
      const record = decodeRecord(idHash, reply[1]);
      if (reply[0] === 1) return { outcome: 'created', record };
      await this.#undoIndexEntry(client, record, shardKey, member, score);
      return { outcome: 'exists', record };
    } catch (error) {
      throw unavailable(error);
    }
  }

  async access(idHash: string, mode: AccessMode, policy: PolicyResolver): Promise<AccessResult> {
    const now = this.#nowArg();
    const table = policyTableOf(policy);
    const client = this.#readyClient() ?? (await this.#client());
    if (!isCanonicalIdHash(idHash)) return UNKNOWN;
    try {
      if (table === undefined) return await this.#accessInJs(client, idHash, mode, policy, now);
      const reply = (await client.lapseAccess(
        this.#keys.session(idHash),
        now,
        mode === 'touch' ? 't' : 'p',
        this.#retain,
        ...table,
      )) as RecordReply;
      const code = reply[0];
      if (code === 0) return UNKNOWN;
      const record = decodeRecord(idHash, reply[1]);
      if (code !== 1) {
        return {
          outcome: 'ended',
          reason: record.endReason as EndReason,
          record,
          endedNow: code === 3,
        };
      }
      const effective = policy.resolve(record);
      const status = statusAt(deadlinesFor(record, effective), effective, reply[2]);
      // A stricter context brought the next deadline closer: the index must follow.
      if (reply[3] === 1) await this.#indexEarlier(client, record, now);
      return { outcome: 'active', record, status, write: mode === 'touch' ? record : undefined };
    } catch (error) {
      throw unavailable(error);
    }
  }

  async revoke(idHash: string, reason: string): Promise<RevokeResult> {
    const now = this.#nowArg();
    const client = await this.#client();
    if (!isCanonicalIdHash(idHash)) return UNKNOWN;
    let reply: RecordReply;
    try {
      reply = (await client.lapseRevoke(
        this.#keys.session(idHash),
        now,
        this.#retain,
        'r',
        encodeText(reason),
        '',
        this.#keys.channel,
        idHash,
      )) as RecordReply;
    } catch (error) {
      throw unavailable(error);
    }
    if (reply[0] === 0) return UNKNOWN;
    const record = decodeRecord(idHash, reply[1]);
    if (reply[0] === 1) return { outcome: 'ended', record };
    return {
      outcome: 'already-ended',
      reason: record.endReason as EndReason,
      record,
      endedNow: reply[0] === 3,
    };
  }

  async revokeSubject(subject: string, reason: string): Promise<SessionRecord[]> {
    const now = this.#nowArg();
    const client = await this.#client();
    const slot = subjectSlot(subject);
    const guard = `+${encodeText(subject)}`;
    const encodedReason = encodeText(reason);
    try {
      const members = await client.zrange(this.#keys.shard(slot.shard), 0, -1);
      const mine = members.filter((member) => isMemberOf(member, slot));
      const revoked: SessionRecord[] = [];
      await Promise.all(
        mine.map(async (member) => {
          const idHash = idHashOfMember(member);
          const reply = (await client.lapseRevoke(
            this.#keys.session(idHash),
            now,
            this.#retain,
            'r',
            encodedReason,
            guard,
            this.#keys.channel,
            idHash,
          )) as RecordReply;
          if (reply[0] === 1) revoked.push(decodeRecord(idHash, reply[1]));
        }),
      );
      return revoked;
    } catch (error) {
      throw unavailable(error);
    }
  }

  async rotate(idHash: string, newIdHash: string, changes: SessionChanges): Promise<RotateResult> {
    const now = this.#nowArg();
    requireCanonical(newIdHash, 'newIdHash');
    const client = await this.#client();
    if (!isCanonicalIdHash(idHash)) return UNKNOWN;
    const oldKey = this.#keys.session(idHash);
    const newKey = this.#keys.session(newIdHash);
    try {
      // The new id is held first, so a taken one changes nothing (decideRotate's precondition).
      if ((await client.lapseReserve(newKey, now, RESERVATION_MS)) !== 1) {
        const read = (await client.lapseRead(oldKey, now)) as RecordReply;
        return read[0] === 0 ? UNKNOWN : CONFLICT;
      }
      const reply = (await client.lapseRevoke(
        oldKey,
        now,
        this.#retain,
        'o',
        encodeText('rotated'),
        '',
        '',
        idHash,
      )) as RecordReply;
      if (reply[0] !== 1) {
        await client.lapseRelease(newKey);
        if (reply[0] === 0) return UNKNOWN;
        const record = decodeRecord(idHash, reply[1]);
        return {
          outcome: 'already-ended',
          reason: record.endReason as EndReason,
          record,
          endedNow: reply[0] === 3,
        };
      }
      const retired = decodeRecord(idHash, reply[1]);
      const previous = decodeRecord(idHash, reply[3] as string);
      // decideRotate: the same session, deadlines and all, under the new id.
      const successor = successorOf(previous, newIdHash, changes);
      const slot = subjectSlot(successor.subject);
      const due = nextDeadline(successor);
      const [, , placed] = await this.#inOrder([
        () =>
          client.lapseIndex(
            this.#keys.shard(slot.shard),
            now,
            indexMember(newIdHash, slot),
            'l',
            due,
            successor.purgeAt,
          ),
        () => client.lapseEnqueue(this.#keys.queue, QUEUE_TTL_MS, due, slot.shard),
        () => client.lapsePlace(newKey, now, encodeRecord(successor), successor.purgeAt),
      ]);
      if (placed !== 1) {
        throw new LapseError(
          ErrorCodes.STORE_UNAVAILABLE,
          'the id reserved for a rotation was taken before the successor was written',
        );
      }
      return { outcome: 'rotated', retired, successor };
    } catch (error) {
      throw unavailable(error);
    }
  }

  async get(idHash: string): Promise<SessionRecord | undefined> {
    const now = this.#nowArg();
    const client = await this.#client();
    if (!isCanonicalIdHash(idHash)) return undefined;
    try {
      const reply = (await client.lapseRead(this.#keys.session(idHash), now)) as RecordReply;
      return reply[0] === 0 ? undefined : decodeRecord(idHash, reply[1]);
    } catch (error) {
      throw unavailable(error);
    }
  }

  /**
   * By subject shard, then idHash within the shard: a walk over the 4096
   * index sets that needs no state between pages (the cursor is
   * `<shard>:<idHash>` of the last record returned). Shards are read in
   * growing windows (ZRANGE, pipelined, or concurrent on a Cluster), records
   * with GET in batches sized by what the page still needs; filters apply in
   * JS. A `subject` reads only its own shard. Read-only: TIME, ZRANGE, GET.
   */
  async list(query?: SessionQuery): Promise<SessionPage> {
    const checked = checkListQuery(query);
    const after = checked.cursor === undefined ? undefined : decodeShardCursor(checked.cursor);
    const client = await this.#client();
    try {
      const now =
        this.#clock === undefined ? await redisTime(client) : Math.floor(this.#clock.now());
      const found = await this.#walk(client, checked, after, now);
      const records = found.slice(0, checked.limit);
      const last = records[records.length - 1];
      const isMore = found.length > checked.limit && last !== undefined;
      return {
        now,
        records,
        next: isMore ? `${subjectSlot(last.subject).shard}:${last.idHash}` : null,
      };
    } catch (error) {
      throw unavailable(error);
    }
  }

  async sweep(): Promise<SessionRecord[]> {
    const now = this.#nowArg();
    const client = await this.#client();
    const ended: SessionRecord[] = [];
    try {
      await Promise.all([this.#sweepDue(client, now, ended), this.#reconcile(client)]);
    } catch (error) {
      throw unavailable(error);
    }
    // Listeners run after every write, so one that calls back into the store sees a settled state.
    for (const record of ended) this.#listeners.notify(record);
    return ended;
  }

  onExpire(listener: ExpireListener): () => void {
    return this.#listeners.add(listener);
  }

  onRevoke(listener: RevokeListener): () => void {
    return this.#revokeListeners.add(listener);
  }

  /** Stop the sweep timer, quit the connections this store opened (a client passed in stays open). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#listeners.clear();
    this.#revokeListeners.clear();
    const connections = [quietly(this.#subscriber)];
    if (this.#ownsClient) connections.push(quietly(this.#redis));
    await Promise.all(connections);
  }

  /** "now" for a script: '' (Redis TIME) unless a test clock is injected. Read before any await. */
  #nowArg(): string {
    return this.#clock === undefined ? '' : String(Math.floor(this.#clock.now()));
  }

  #readyClient(): Commands | undefined {
    return !this.#closed && this.#redis.status === 'ready' ? this.#redis : undefined;
  }

  /** The client, once Redis answers; rejects at once when it does not (fail closed, no queueing). */
  async #client(): Promise<Commands> {
    if (this.#closed) throw new StoreUnavailableError('the Redis session store is closed');
    if (this.#redis.status === 'ready') return this.#redis;
    if (this.#firstConnect !== undefined) {
      await this.#firstConnect;
      // Read again: the status changed while waiting.
      if (!this.#closed && (this.#redis.status as string) === 'ready') return this.#redis;
    }
    throw new StoreUnavailableError(
      `Redis is not reachable (connection ${this.#redis.status}); failing closed`,
    );
  }

  /** Settles when the first connection is ready, fails, or takes too long. */
  #watchFirstConnect(client: Client): Promise<void> | undefined {
    if (client.status === 'ready') return undefined;
    if (client.status === 'wait') client.connect().catch(() => undefined);
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        client.off('ready', done);
        client.off('close', done);
        client.off('end', done);
        this.#firstConnect = undefined;
        resolve();
      };
      const timer = setTimeout(done, FIRST_CONNECT_WAIT_MS);
      timer.unref();
      client.on('ready', done);
      client.on('close', done);
      client.on('end', done);
    });
  }

  /**
   * Run steps in order. On one standalone connection Redis executes commands
   * in the order sent, so they are sent at once (one round trip); a Cluster
   * routes them to different nodes, so each waits for the one before.
   */
  async #inOrder(steps: readonly (() => Promise<unknown>)[]): Promise<unknown[]> {
    if (!this.#isCluster) return Promise.all(steps.map((step) => step()));
    const results: unknown[] = [];
    for (const step of steps) results.push(await step());
    return results;
  }

  /**
   * Up to `query.limit + 1` records after `after` in walk order (one more than
   * the page, so the caller knows whether there is a next page).
   */
  async #walk(
    client: Commands,
    query: ListQuery,
    after: ListPosition | undefined,
    now: number,
  ): Promise<SessionRecord[]> {
    const wanted = query.limit + 1;
    const slot = query.subject === undefined ? undefined : subjectSlot(query.subject);
    const first = after?.shard ?? 0;
    const shards: number[] = [];
    if (slot === undefined)
      for (let shard = first; shard < SHARD_COUNT; shard++) shards.push(shard);
    else if (slot.shard >= first) shards.push(slot.shard);
    const found: SessionRecord[] = [];
    let window = LIST_WINDOW_MIN;
    for (let start = 0; start < shards.length && found.length < wanted; start += window) {
      if (start > 0) window = Math.min(window * 2, LIST_WINDOW_MAX);
      const round = shards.slice(start, start + window);
      const memberLists = (await this.#batch(
        client,
        round.map((shard) => ['zrange', this.#keys.shard(shard), 0, -1]),
      )) as string[][];
      const candidates: ListCandidate[] = [];
      round.forEach((shard, i) => {
        // Sorting members sorts by idHash: every member is 43 characters of idHash, then 2 of fingerprint.
        const members = (memberLists[i] ?? [])
          .filter((member) => member.length === MEMBER_LENGTH)
          .filter((member) => slot === undefined || isMemberOf(member, slot))
          .sort();
        for (const member of members) {
          const idHash = idHashOfMember(member);
          if (after !== undefined && shard === after.shard && idHash <= after.idHash) continue;
          candidates.push({ shard, member, idHash });
        }
      });
      for (let next = 0; next < candidates.length && found.length < wanted; ) {
        const batch = candidates.slice(next, next + Math.max(wanted - found.length, LIST_GET_MIN));
        next += batch.length;
        const values = (await this.#batch(
          client,
          batch.map((candidate) => ['get', this.#keys.session(candidate.idHash)]),
        )) as (string | null)[];
        batch.forEach((candidate, i) => {
          const value = values[i];
          if (value === null || value === undefined || value === RESERVED) return;
          const record = decodeRecord(candidate.idHash, value);
          if (record.purgeAt <= now || !this.#isIndexedAt(record, candidate)) return;
          if (matchesListQuery(record, query, now)) found.push(record);
        });
      }
    }
    return found;
  }

  /**
   * Whether the record read is the one this index entry stands for. An entry
   * can briefly point at a record of another subject (a create that found the
   * key taken, until it takes its entry back; a key purged and taken again):
   * such a record is listed only from its own subject's entry, so never twice.
   */
  #isIndexedAt(record: SessionRecord, candidate: ListCandidate): boolean {
    const own = subjectSlot(record.subject);
    return own.shard === candidate.shard && isMemberOf(candidate.member, own);
  }

  /**
   * Run single-key commands and return their replies in order: one pipeline
   * on a standalone connection (one round trip), concurrent commands on a
   * Cluster, where a pipeline must stay on one node.
   */
  async #batch(client: Commands, commands: (string | number)[][]): Promise<unknown[]> {
    if (commands.length === 0) return [];
    if (this.#isCluster) {
      const replies: unknown[] = new Array(commands.length);
      const indexes = commands.map((_, i) => i);
      await eachLimited(indexes, LIST_CONCURRENCY, async (i) => {
        const [name, ...args] = commands[i] as [string, ...(string | number)[]];
        replies[i] = await client.call(name, ...args);
      });
      return replies;
    }
    const results = await client.pipeline(commands).exec();
    if (results === null) throw new StoreUnavailableError('the Redis pipeline was not run');
    return results.map(([error, reply]) => {
      if (error !== null) throw error;
      return reply;
    });
  }

  /** Move a session's index entry earlier (its next deadline came closer). */
  async #indexEarlier(client: Commands, record: SessionRecord, now: string): Promise<void> {
    const slot = subjectSlot(record.subject);
    const due = nextDeadline(record);
    await this.#inOrder([
      () =>
        client.lapseIndex(
          this.#keys.shard(slot.shard),
          now,
          indexMember(record.idHash, slot),
          'l',
          due,
          record.purgeAt,
        ),
      () => client.lapseEnqueue(this.#keys.queue, QUEUE_TTL_MS, due, slot.shard),
    ]);
  }

  /**
   * A create found the key taken: the entry it filed under the draft's subject
   * must not stand. Same member: put back the existing session's earlier time;
   * another member: remove it, unless something moved it meanwhile.
   */
  async #undoIndexEntry(
    client: Commands,
    existing: SessionRecord,
    shardKey: string,
    member: string,
    score: number,
  ): Promise<void> {
    const slot = subjectSlot(existing.subject);
    if (
      this.#keys.shard(slot.shard) === shardKey &&
      indexMember(existing.idHash, slot) === member
    ) {
      await client.lapseIndex(
        shardKey,
        this.#nowArg(),
        member,
        'l',
        nextDeadline(existing),
        existing.purgeAt,
      );
    } else {
      await client.lapseReindex(shardKey, member, String(score), '');
    }
  }

  /** decideAccess in JS with an optimistic write, for a resolver that is not a ContextPolicy. */
  async #accessInJs(
    client: Commands,
    idHash: string,
    mode: AccessMode,
    policy: PolicyResolver,
    now: string,
  ): Promise<AccessResult> {
    const key = this.#keys.session(idHash);
    for (let attempt = 0; attempt < MAX_SWAPS; attempt++) {
      const [code, value, at] = (await client.lapseRead(key, now)) as RecordReply;
      if (code === 0) return UNKNOWN;
      const record = decodeRecord(idHash, value);
      const decision = decideAccess(record, policy, at, mode, this.#retainMs);
      const write =
        decision.outcome === 'active'
          ? decision.write
          : decision.endedNow
            ? decision.record
            : undefined;
      if (write === undefined) return decision;
      if ((await client.lapseSwap(key, now, value, encodeRecord(write), write.purgeAt)) === 1) {
        if (decision.outcome === 'active' && nextDeadline(write) < nextDeadline(record)) {
          await this.#indexEarlier(client, write, now);
        }
        return decision;
      }
    }
    throw new StoreUnavailableError('the session kept changing during an optimistic write');
  }

  async #sweepDue(client: Commands, now: string, ended: SessionRecord[]): Promise<void> {
    for (let round = 0; round < MAX_TAKES; round++) {
      const [at, shards] = (await client.lapseTake(this.#keys.queue, now, TAKE_LIMIT)) as [
        number,
        string[],
      ];
      await eachLimited(shards, SHARD_CONCURRENCY, (shard) =>
        this.#sweepShard(client, shard, now, at, ended),
      );
      if (shards.length < TAKE_LIMIT) return;
    }
  }

  /**
   * Look at the members of one shard due by `at`: the session's own script
   * decides (and claims an expiry: only the caller that ends it hears so), then
   * each member is moved to its next time (its next deadline while live, its
   * purgeAt once ended), or dropped once its record is gone. The shard goes
   * back in the queue under its earliest time.
   */
  async #sweepShard(
    client: Commands,
    shard: string,
    now: string,
    at: number,
    ended: SessionRecord[],
  ): Promise<void> {
    const shardKey = this.#keys.shard(shard);
    let earliest: string | undefined;
    for (;;) {
      const flat = await client.zrangebyscore(
        shardKey,
        '-inf',
        at,
        'WITHSCORES',
        'LIMIT',
        0,
        SHARD_BATCH,
      );
      const moves: string[] = [];
      const replies = await Promise.all(
        flat
          .filter((_, i) => i % 2 === 0)
          .map(
            (member) =>
              client.lapseExpire(
                this.#keys.session(idHashOfMember(member)),
                now,
                this.#retain,
              ) as Promise<[number, (string | number)?]>,
          ),
      );
      // A live session moves to its next deadline, an ended one to its purgeAt
      // (kept in the index as long as its record, so `list` finds it), a gone one out.
      replies.forEach((reply, i) => {
        const member = flat[i * 2] as string;
        const score = flat[i * 2 + 1] as string;
        if (reply[0] === 1 || reply[0] === 2) {
          moves.push(member, score, String(reply[1]));
        } else if (reply[0] === 3) {
          const record = decodeRecord(idHashOfMember(member), reply[1] as string);
          ended.push(record);
          moves.push(member, score, String(record.purgeAt));
        } else {
          moves.push(member, score, '');
        }
      });
      const [first] = (await client.lapseReindex(shardKey, ...moves)) as [string?];
      earliest = first;
      if (flat.length < SHARD_BATCH * 2) break;
    }
    if (earliest !== undefined) {
      await client.lapseEnqueue(this.#keys.queue, QUEUE_TTL_MS, earliest, shard);
    }
  }

  /** Put a few shards back in the queue under their earliest time, whatever the queue holds. */
  async #reconcile(client: Commands): Promise<void> {
    const shards: number[] = [];
    for (let i = 0; i < RECONCILE_PER_SWEEP; i++) {
      shards.push(this.#reconcileCursor);
      this.#reconcileCursor = (this.#reconcileCursor + 1) % SHARD_COUNT;
    }
    const firsts = await Promise.all(
      shards.map((shard) => client.lapseReindex(this.#keys.shard(shard)) as Promise<[string?]>),
    );
    const pairs: (string | number)[] = [];
    firsts.forEach(([first], i) => {
      if (first !== undefined) pairs.push(first, shards[i] as number);
    });
    if (pairs.length > 0) await client.lapseEnqueue(this.#keys.queue, QUEUE_TTL_MS, ...pairs);
  }

  async #tick(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      await this.sweep();
      this.#sweepFailing = false;
    } catch (error) {
      // One warning per outage, not one per second.
      if (!this.#sweepFailing && !this.#closed) {
        this.#sweepFailing = true;
        reportBackgroundError('RedisStore', 'sweep failed', error);
      }
    } finally {
      this.#sweeping = false;
    }
  }

  #heard(message: string): void {
    const [idHash = '', subject = '', reason = ''] = message.split(FIELD);
    this.#revokeListeners.notify({
      idHash,
      subject: decodeText(subject),
      reason: decodeText(reason),
    });
  }
}
