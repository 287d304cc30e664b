import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  deleteKeysUnder,
  keysUnder,
  REDIS_URL,
  requireRedis,
  ThrowawayRedis,
} from '../../../test/helpers/redis-server.js';
import { ErrorCodes, LapseError } from '../../errors.js';
import { CompiledPolicy, type ContextPolicy } from '../../policy/compiled-policy.js';
import type { Policy, PolicyRule } from '../../policy/types.js';
import { SessionAuthority } from '../../session/authority.js';
import { ManualClock } from '../../session/clock.js';
import {
  createRecord,
  decideAccess,
  decideRevoke,
  expireIfDue,
  nextDeadline,
  type PolicyResolver,
} from '../../session/decide.js';
import { generateSessionId, hashSessionId } from '../../session/session-id.js';
import type { EndReason, SessionRecord } from '../../session/types.js';
import { RedisStore, type RedisStoreOptions } from './index.js';
import { KeySpace, subjectSlot } from './keys.js';
import { decodeRecord, encodeRecord } from './record-codec.js';
import { EXPIRE } from './scripts.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const RETAIN_MS = 60_000;

function policyOf(idleMs: number | null, absoluteMs: number, rules: PolicyRule[] = []): Policy {
  return {
    version: 1,
    comply: [],
    defaults: { idleMs, absoluteMs, warnMs: 0 },
    ceilings: {},
    rules,
    passive: [],
  };
}

const STANDARD = new CompiledPolicy(policyOf(15 * MINUTE, 8 * HOUR)).forContext({});

function newIdHash(): string {
  return hashSessionId(generateSessionId());
}

function newPrefix(): string {
  return `lapse-test:${randomBytes(6).toString('hex')}:`;
}

const opened: RedisStore[] = [];
const clients: Redis[] = [];
const prefixes: string[] = [];

function open(options: Omit<RedisStoreOptions, 'redis'> & { redis?: RedisStoreOptions['redis'] }) {
  const keyPrefix = options.keyPrefix ?? newPrefix();
  prefixes.push(keyPrefix);
  const store = new RedisStore({ redis: REDIS_URL, sweepIntervalMs: 0, ...options, keyPrefix });
  opened.push(store);
  return store;
}

function client(url: string = REDIS_URL): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  clients.push(redis);
  return redis;
}

beforeAll(async () => {
  await requireRedis(REDIS_URL);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  const cleaner = client();
  for (const prefix of prefixes) await deleteKeysUnder(cleaner, prefix);
  await Promise.all(clients.map((redis) => redis.quit().catch(() => undefined)));
});

function optionError(options: unknown): LapseError & { option?: string } {
  try {
    new RedisStore(options as RedisStoreOptions);
  } catch (error) {
    if (error instanceof LapseError) return error;
    throw error;
  }
  throw new Error('expected the constructor to throw');
}

describe('RedisStore options', () => {
  it.each([
    ['options', null],
    ['redis', {}],
    ['redis', { redis: 6379 }],
    ['redis', { redis: 'not a url' }],
    ['redis', { redis: 'http://127.0.0.1:6379' }],
    ['redis', { redis: { status: 'ready' } }],
    ['keyPrefix', { redis: REDIS_URL, keyPrefix: '' }],
    ['keyPrefix', { redis: REDIS_URL, keyPrefix: 7 }],
    ['keyPrefix', { redis: REDIS_URL, keyPrefix: 'x'.repeat(129) }],
    ['retainEndedMs', { redis: REDIS_URL, retainEndedMs: -1 }],
    ['retainEndedMs', { redis: REDIS_URL, retainEndedMs: 1.5 }],
    ['retainEndedMs', { redis: REDIS_URL, retainEndedMs: '1000' }],
    ['sweepIntervalMs', { redis: REDIS_URL, sweepIntervalMs: -1 }],
    ['sweepIntervalMs', { redis: REDIS_URL, sweepIntervalMs: 2 ** 31 }],
    ['clock', { redis: REDIS_URL, clock: {} }],
    ['clock', { redis: REDIS_URL, clock: () => 0 }],
    ['url', { redis: REDIS_URL, url: REDIS_URL }],
    ['prefix', { redis: REDIS_URL, prefix: 'x:' }],
    ['ttl', { redis: REDIS_URL, ttl: 5 }],
  ])('rejects a bad %s with LAPSE_OPTION_INVALID naming the option', (option, options) => {
    const error = optionError(options);
    expect(error.code).toBe(ErrorCodes.OPTION_INVALID);
    expect(error.option).toBe(option);
  });

  it('names the option that was meant for a common misspelling', () => {
    expect(optionError({ redis: REDIS_URL, retainMs: 5 }).message).toContain('retainEndedMs');
    expect(optionError({ redis: REDIS_URL, url: REDIS_URL }).message).toContain('use redis');
  });

  it('keeps a frozen config without the URL, which may hold a password', async () => {
    const store = open({ keyPrefix: newPrefix() });
    expect(Object.isFrozen(store.options)).toBe(true);
    expect(store.options).toMatchObject({ retainEndedMs: 86_400_000, sweepIntervalMs: 0 });
    expect(JSON.stringify(store.options)).not.toContain('redis://');
  });
});

describe('RedisStore keys', () => {
  it('stores only canonical SHA-256 keys, and knows no other', async () => {
    const store = open({});
    for (const idHash of ['h', 'not a hash', `${newIdHash()}x`, newIdHash().slice(0, 42)]) {
      await expect(store.create(idHash, { subject: 'u1' }, STANDARD)).rejects.toMatchObject({
        code: ErrorCodes.OPTION_INVALID,
        option: 'idHash',
      });
      expect(await store.access(idHash, 'touch', STANDARD)).toEqual({ outcome: 'unknown' });
      expect(await store.revoke(idHash, 'logout')).toEqual({ outcome: 'unknown' });
      expect(await store.get(idHash)).toBeUndefined();
    }
    const taken = newIdHash();
    await store.create(taken, { subject: 'u1' }, STANDARD);
    await expect(store.rotate(taken, 'h', {})).rejects.toMatchObject({ option: 'newIdHash' });
    expect((await store.get(taken))?.endReason).toBeUndefined();
  });
});

describe('RedisStore connections', () => {
  it('leaves a client passed in open on close, and quits its own', async () => {
    const mine = client();
    await mine.ping();
    const borrowed = open({ redis: mine });
    await borrowed.ready();
    await borrowed.close();
    expect(await mine.ping()).toBe('PONG');

    const own = open({});
    await own.ready();
    await own.close();
    await expect(own.now()).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
    await expect(own.access(newIdHash(), 'touch', STANDARD)).rejects.toMatchObject({
      code: ErrorCodes.STORE_UNAVAILABLE,
    });
    await expect(own.list()).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
  });

  it('rejects at once, failing closed, when Redis is not there from the start', async () => {
    const server = await ThrowawayRedis.start();
    const url = server.url;
    await server.stop();
    const store = open({ redis: url });
    const started = Date.now();
    await expect(store.access(newIdHash(), 'touch', STANDARD)).rejects.toMatchObject({
      code: ErrorCodes.STORE_UNAVAILABLE,
    });
    await expect(store.ready()).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
    await expect(store.list({ state: 'any' })).rejects.toMatchObject({
      code: ErrorCodes.STORE_UNAVAILABLE,
    });
    expect(Date.now() - started).toBeLessThan(4_500);
  });
});

describe('RedisStore on the wire', () => {
  let server: ThrowawayRedis;
  let admin: Redis;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
    admin = client(server.url);
  });

  afterAll(async () => {
    await admin.quit().catch(() => undefined);
    await server.stop();
  });

  /** Calls per command since the last CONFIG RESETSTAT, without our own INFO and CONFIG. */
  async function commandCalls(): Promise<Record<string, number>> {
    const info = await admin.info('commandstats');
    const calls: Record<string, number> = {};
    for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      const [, name, count] = match as unknown as [string, string, string];
      if (name === 'info' || name.startsWith('config')) continue;
      calls[name] = Number(count);
    }
    return calls;
  }

  it('runs exactly one Redis command (EVALSHA) per check and touch', async () => {
    const production = new CompiledPolicy(
      policyOf(30 * MINUTE, 8 * HOUR, [
        { name: 'admins', match: { roles: ['admin'] }, idleMs: 5 * MINUTE, absoluteMs: HOUR },
        { name: 'production', match: { environment: ['production'] }, idleMs: 10 * MINUTE },
      ]),
    ).forContext({ environment: 'production' });
    const store = open({ redis: server.url });
    await store.ready();
    const ids = [newIdHash(), newIdHash()];
    await store.create(ids[0] as string, { subject: 'a', roles: ['admin'] }, production);
    await store.create(ids[1] as string, { subject: 'b' }, production);
    // The first call after a server start loads the script (EVALSHA, NOSCRIPT, EVAL).
    await store.access(ids[0] as string, 'touch', production);
    await admin.config('RESETSTAT');
    for (let i = 0; i < 100; i++) {
      const result = await store.access(
        ids[i % 2] as string,
        i % 3 === 0 ? 'peek' : 'touch',
        production,
      );
      expect(result.outcome).toBe('active');
    }
    // Commandstats also counts the commands a script runs inside Redis: one TIME
    // and one GET per script, and one SET per touch (66 of the 100 calls). The only
    // command a client sent is EVALSHA: one round trip per check.
    expect(await commandCalls()).toEqual({ evalsha: 100, time: 100, get: 100, set: 66 });
  });

  it('sets an expiry on every key it writes, whatever happened to the session', async () => {
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const keyPrefix = newPrefix();
    const store = open({ redis: server.url, keyPrefix, clock });
    const loose = new CompiledPolicy(
      policyOf(HOUR, 8 * HOUR, [
        { name: 'strict', match: { environment: ['production'] }, idleMs: MINUTE },
      ]),
    );
    const staging = loose.forContext({ environment: 'staging' });
    const production = loose.forContext({ environment: 'production' });
    const sessions = Array.from({ length: 8 }, () => newIdHash());
    for (const [i, idHash] of sessions.entries()) {
      await store.create(idHash, { subject: `s${i % 3}`, attrs: { i } }, staging);
    }
    await store.sweep();
    clock.advance(SECOND);
    await store.access(sessions[0] as string, 'touch', staging);
    await store.access(sessions[1] as string, 'touch', production);
    await store.access(sessions[2] as string, 'peek', staging);
    await store.revoke(sessions[3] as string, 'logout');
    await store.rotate(sessions[4] as string, newIdHash(), { roles: ['admin'] });
    await store.revokeSubject('s2', 'admin');
    clock.advance(MINUTE);
    expect((await store.sweep()).map((record) => record.idHash)).toEqual([sessions[1]]);
    await store.sweep();
    const keys = await keysUnder(admin, keyPrefix);
    expect(keys.length).toBeGreaterThan(sessions.length);
    for (const key of keys) {
      const ttl = await admin.pttl(key);
      expect({ key: key.toString('hex'), positive: ttl > 0 }).toEqual({
        key: key.toString('hex'),
        positive: true,
      });
    }
  });

  it('walks an empty store, all 4096 shards, in well under a second, with one TIME and pipelined ZRANGEs', async () => {
    const store = open({ redis: server.url });
    await store.ready();
    await store.list();
    await admin.config('RESETSTAT');
    const started = performance.now();
    const page = await store.list({ state: 'any', limit: 1000 });
    const elapsedMs = performance.now() - started;
    expect(page).toMatchObject({ records: [], next: null });
    expect(elapsedMs).toBeLessThan(500);
    expect(await commandCalls()).toEqual({ time: 1, zrange: 4096 });
  });

  it('only reads while listing: TIME, ZRANGE and GET, nothing written', async () => {
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const store = open({ redis: server.url, clock });
    const ids = Array.from({ length: 30 }, () => newIdHash());
    for (const [i, idHash] of ids.entries()) {
      await store.create(idHash, { subject: `s${i % 4}` }, STANDARD);
    }
    await store.revoke(ids[0] as string, 'logout');
    clock.advance(HOUR);
    await admin.config('RESETSTAT');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ state: 'any', limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.records.map((record) => record.idHash));
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    expect(seen.sort()).toEqual([...ids].sort());
    const calls = await commandCalls();
    expect(Object.keys(calls).sort()).toEqual(['get', 'zrange']);
    // Each page reads each record once, and the page that ends short of its
    // limit + 1 reads the rest of the shards.
    expect(calls.get).toBeLessThanOrEqual(30 + 5 * 8);
  });

  it('keeps an ended session in its index until purgeAt, so list still finds it after the sweep', async () => {
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const keyPrefix = newPrefix();
    const store = open({ redis: server.url, keyPrefix, clock, retainEndedMs: HOUR });
    const keys = new KeySpace(keyPrefix);
    const short = new CompiledPolicy(policyOf(MINUTE, 8 * HOUR)).forContext({});
    const [due, revoked] = [newIdHash(), newIdHash()];
    await store.create(due, { subject: 'p' }, short);
    await store.create(revoked, { subject: 'p' }, short);
    await store.revoke(revoked, 'logout');
    clock.advance(MINUTE);
    expect((await store.sweep()).map((record) => record.idHash)).toEqual([due]);
    const shard = keys.shard(subjectSlot('p').shard);
    expect(await admin.zcard(shard)).toBe(2);
    const ended = await store.list({ state: 'ended' });
    expect(ended.records.map((record) => record.idHash).sort()).toEqual([due, revoked].sort());
    // At purgeAt the sweep drops the entries; the shard key goes with its last member.
    const purgeAt = Math.max(...ended.records.map((record) => record.purgeAt));
    clock.set(purgeAt);
    expect(await store.sweep()).toEqual([]);
    expect(await admin.zcard(shard)).toBe(0);
    expect(await store.list({ state: 'any' })).toMatchObject({ records: [], next: null });
  });

  it("lists a record only from its own subject's index entry, never from a stray one", async () => {
    const keyPrefix = newPrefix();
    const store = open({ redis: server.url, keyPrefix });
    const keys = new KeySpace(keyPrefix);
    const idHash = newIdHash();
    const { record } = await store.create(idHash, { subject: 'owner' }, STANDARD);
    // What a create by another subject leaves for a moment when it finds the key taken.
    const intruder = subjectSlot('intruder');
    await admin.zadd(keys.shard(intruder.shard), Date.now() + HOUR, idHash + intruder.fingerprint);
    const page = await store.list({ state: 'any' });
    expect(page.records).toEqual([record]);
    expect((await store.list({ subject: 'intruder' })).records).toEqual([]);
    expect((await store.list({ subject: 'owner' })).records).toEqual([record]);
  });

  it('stores no session id anywhere, only its SHA-256', async () => {
    const keyPrefix = newPrefix();
    const store = open({ redis: server.url, keyPrefix });
    const authority = new SessionAuthority({
      policy: policyOf(15 * MINUTE, 8 * HOUR),
      store,
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { id } = await authority.begin({ subject: `user-${i}`, attrs: { note: 'x' } });
      ids.push(id);
      expect((await authority.check(id)).ok).toBe(true);
    }
    const rotated = await authority.rotate(ids[0] as string, { roles: ['admin'] });
    if (!rotated.ok) throw new Error('rotation failed');
    ids.push(rotated.id);
    await authority.revoke(ids[1] as string);
    await authority.revokeSubject('user-2');
    await authority.sweep();
    authority.dispose();

    // Look for each id as text and as its 32 raw bytes; its hash (in the index) must be there.
    const stored: Buffer[] = [];
    for (const key of await keysUnder(admin, keyPrefix)) {
      stored.push(key);
      const type = await admin.type(key);
      if (type === 'string') stored.push((await admin.getBuffer(key)) as Buffer);
      else if (type === 'zset') stored.push(...(await admin.zrangeBuffer(key, 0, -1)));
      else throw new Error(`unexpected ${type} at ${key.toString()}`);
    }
    const everything = Buffer.concat(stored);
    for (const id of ids) {
      expect(everything.includes(id)).toBe(false);
      expect(everything.includes(Buffer.from(id, 'base64url'))).toBe(false);
      expect(everything.includes(hashSessionId(id))).toBe(true);
    }
  });
});

describe('RedisStore on Redis Cluster', () => {
  let server: ThrowawayRedis;

  beforeAll(async () => {
    server = await ThrowawayRedis.start({ cluster: true });
  });

  afterAll(async () => {
    await server.stop();
  });

  it('runs every operation on a cluster: each script stays in one hash slot', async () => {
    // One node still refuses any command or script whose keys span two slots (CROSSSLOT).
    const cluster = new Cluster([{ host: '127.0.0.1', port: server.port }], {
      enableOfflineQueue: false,
      redisOptions: { maxRetriesPerRequest: 0 },
    });
    const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
    const store = open({ redis: cluster, clock });
    try {
      await store.ready();
      const heard: string[] = [];
      store.onRevoke((notice) => heard.push(notice.idHash));
      const expired: string[] = [];
      store.onExpire((record) => expired.push(record.idHash));
      const strict = new CompiledPolicy(
        policyOf(HOUR, 8 * HOUR, [
          { name: 'prod', match: { environment: ['production'] }, idleMs: MINUTE },
        ]),
      );
      const [a, b, c] = [newIdHash(), newIdHash(), newIdHash()];
      await store.create(a, { subject: 'alice' }, STANDARD);
      await store.create(b, { subject: 'alice', roles: ['admin'] }, STANDARD);
      await store.create(c, { subject: 'carol' }, strict.forContext({}));
      expect(await store.sweep()).toEqual([]);
      clock.advance(SECOND);
      expect((await store.access(a, 'touch', STANDARD)).outcome).toBe('active');
      expect(
        (await store.access(c, 'touch', strict.forContext({ environment: 'production' }))).outcome,
      ).toBe('active');
      const successor = newIdHash();
      expect((await store.rotate(a, successor, {})).outcome).toBe('rotated');
      expect((await store.revokeSubject('alice', 'admin')).map((r) => r.idHash).sort()).toEqual(
        [b, successor].sort(),
      );
      clock.advance(MINUTE);
      expect((await store.sweep()).map((record) => record.idHash)).toEqual([c]);
      expect(expired).toEqual([c]);
      await vi.waitFor(() => expect(heard.sort()).toEqual([b, successor].sort()), {
        timeout: 2_000,
      });
      // list reads one key per command (ZRANGE, GET), never across slots.
      const listed: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ state: 'any', limit: 1, ...(cursor ? { cursor } : {}) });
        listed.push(...page.records.map((record) => record.idHash));
        cursor = page.next ?? undefined;
      } while (cursor !== undefined);
      expect(listed.sort()).toEqual([a, b, c, successor].sort());
      const alice = await store.list({ subject: 'alice', state: 'ended' });
      expect(alice.records.map((record) => record.idHash).sort()).toEqual([a, b, successor].sort());
      expect((await store.list()).records).toEqual([]);
    } finally {
      await store.close();
      cluster.disconnect();
    }
  });
});

/* ------------------------------------------------------------------------------------------------
 * Property tests: the Lua decisions against session/decide.ts, on random records, policies and
 * times. The packed record is written directly, the store decides at an injected clock, and the
 * answer and the stored result must equal the reference decision exactly.
 * --------------------------------------------------------------------------------------------- */

const BASE = 1_750_000_000_000;
/** Names, roles and user types with the characters the packed format uses, to test escaping. */
const NAMES = ['a', 'b', 'c,d', 'e|f', 'g\x1fh', 'i\x1bj', 'k\x1el'];
const ROLES = ['admin', 'dev', 'x\x1c', 'y\x1d', 'z,'];
const USER_TYPES = ['human', 'service', '', 'a\x1eb'];
const CONTEXTS = [{}, { environment: 'production' }, { environment: 'staging' }];

/** Few distinct values, so ties between rules (decided by name) come up often. */
const IDLE_VALUES = [null, 1_000, 5_000, 30_000, 100_000];
const ABSOLUTE_VALUES = [10_000, 50_000, 200_000, 400_000];

const ruleArb: fc.Arbitrary<PolicyRule> = fc
  .record(
    {
      name: fc.constantFrom(...NAMES),
      roles: fc.option(fc.subarray(ROLES, { maxLength: 2 }), { nil: undefined }),
      userType: fc.option(fc.subarray(USER_TYPES, { maxLength: 2 }), { nil: undefined }),
      environment: fc.option(fc.constantFrom(['production'], ['staging']), { nil: undefined }),
      idleMs: fc.option(fc.constantFrom(...IDLE_VALUES), { nil: undefined }),
      absoluteMs: fc.option(fc.constantFrom(...ABSOLUTE_VALUES), { nil: undefined }),
      warnMs: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: undefined }),
    },
    { requiredKeys: ['name'] },
  )
  .map((rule) => ({
    name: rule.name,
    match: {
      ...(rule.roles === undefined ? {} : { roles: rule.roles }),
      ...(rule.userType === undefined ? {} : { userType: rule.userType }),
      ...(rule.environment === undefined ? {} : { environment: rule.environment }),
    },
    ...(rule.idleMs === undefined ? {} : { idleMs: rule.idleMs }),
    ...(rule.absoluteMs === undefined ? {} : { absoluteMs: rule.absoluteMs }),
    ...(rule.warnMs === undefined ? {} : { warnMs: rule.warnMs }),
  }));

const contextPolicyArb: fc.Arbitrary<ContextPolicy> = fc
  .record({
    idleMs: fc.constantFrom(...IDLE_VALUES),
    absoluteMs: fc.constantFrom(...ABSOLUTE_VALUES),
    rules: fc.uniqueArray(ruleArb, { selector: (rule) => rule.name, maxLength: 5 }),
    context: fc.constantFrom(...CONTEXTS),
  })
  .map(({ idleMs, absoluteMs, rules, context }) =>
    new CompiledPolicy(policyOf(idleMs, absoluteMs, rules)).forContext(context),
  );

const reasonArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom<EndReason>('idle', 'absolute', 'revoked', 'rotated') },
);

/** Records as stores write them, and odd ones (idle before activity, purge close to now). */
const recordArb: fc.Arbitrary<SessionRecord> = fc
  .record({
    createdAt: fc.integer({ min: -100_000, max: 100_000 }),
    activity: fc.nat({ max: 200_000 }),
    idle: fc.oneof(fc.constantFrom(...IDLE_VALUES), fc.integer({ min: -1_000, max: 150_000 })),
    absolute: fc.oneof(fc.constantFrom(...ABSOLUTE_VALUES), fc.integer({ min: 1, max: 400_000 })),
    purge: fc.integer({ min: 0, max: 200_000 }),
    ended: fc.integer({ min: -1_000, max: 400_000 }),
    reason: reasonArb,
    revokeReason: fc.constantFrom('logout', '', 'a\x1fb'),
    subject: fc.constantFrom('u1', '', 'ü,\x1f|'),
    roles: fc.subarray(ROLES),
    userType: fc.constantFrom(...USER_TYPES),
    rule: fc.constantFrom('defaults', ...NAMES),
    attrs: fc.constantFrom({}, { tenant: 't1', level: 2, mfa: true }, { 'k\x1f': 'v\x1e' }),
  })
  .map((r) => {
    const createdAt = BASE + r.createdAt;
    const lastActivityAt = createdAt + r.activity;
    const absoluteExpiresAt = createdAt + r.absolute;
    const record: SessionRecord = {
      idHash: newIdHash(),
      subject: r.subject,
      roles: r.roles,
      userType: r.userType,
      attrs: r.attrs,
      createdAt,
      lastActivityAt,
      idleExpiresAt: r.idle === null ? null : lastActivityAt + r.idle,
      absoluteExpiresAt,
      rule: r.rule,
      purgeAt: absoluteExpiresAt + r.purge,
    };
    if (r.reason === undefined) return record;
    const revoked = r.reason === 'revoked' || r.reason === 'rotated';
    return {
      ...record,
      endedAt: createdAt + r.ended,
      endReason: r.reason,
      ...(revoked ? { revokeReason: r.revokeReason } : {}),
    };
  });

/**
 * A moment around the record's life, mostly on or right beside a deadline
 * (stored, or the one `policy` gives it), where off-by-one bugs live.
 */
function nowArb(record: SessionRecord, policy?: PolicyResolver): fc.Arbitrary<number> {
  const marks = [
    record.createdAt,
    record.lastActivityAt,
    record.absoluteExpiresAt,
    record.purgeAt,
    ...(record.idleExpiresAt === null ? [] : [record.idleExpiresAt]),
  ];
  if (policy !== undefined) {
    const effective = policy.resolve(record);
    marks.push(record.createdAt + effective.absoluteMs);
    if (effective.idleMs !== null) marks.push(record.lastActivityAt + effective.idleMs);
  }
  return fc.oneof(
    {
      weight: 1,
      arbitrary: fc.integer({ min: record.createdAt - 10_000, max: record.purgeAt + 10_000 }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(...marks), fc.constantFrom(-1, 0, 1))
        .map(([mark, offset]) => mark + offset),
    },
  );
}

const caseArb = fc.tuple(recordArb, contextPolicyArb).chain(([record, policy]) =>
  fc.record({
    record: fc.constant(record),
    now: nowArb(record, policy),
    policy: fc.constant(policy),
    mode: fc.constantFrom('touch' as const, 'peek' as const),
  }),
);

/** What a store must hold after a decision: forgotten once its purgeAt has passed. */
function expectedStored(record: SessionRecord, now: number): SessionRecord | undefined {
  return record.purgeAt > now ? record : undefined;
}

describe('the Lua decisions against session/decide.ts', () => {
  const clock = new ManualClock(BASE);
  let store: RedisStore;
  let raw: Redis;
  let keyPrefix: string;

  beforeAll(async () => {
    keyPrefix = newPrefix();
    prefixes.push(keyPrefix);
    store = new RedisStore({
      redis: REDIS_URL,
      keyPrefix,
      clock,
      retainEndedMs: RETAIN_MS,
      sweepIntervalMs: 0,
    });
    await store.ready();
    raw = client();
    raw.defineCommand('lapseTestExpire', { numberOfKeys: 1, lua: EXPIRE });
  });

  afterAll(async () => {
    await store.close();
  });

  const sessionKey = (idHash: string) => new KeySpace(keyPrefix).session(idHash);

  async function put(record: SessionRecord): Promise<void> {
    await raw.set(sessionKey(record.idHash), encodeRecord(record), 'PX', HOUR);
  }

  it('packs and unpacks every record exactly', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        expect(decodeRecord(record.idHash, encodeRecord(record))).toEqual(record);
      }),
      { numRuns: 500 },
    );
  });

  /** Write `record`, decide at `now` through the store (Lua, then the JS fallback), compare. */
  async function checkAccess(
    record: SessionRecord,
    policy: ContextPolicy,
    now: number,
    mode: 'touch' | 'peek',
  ): Promise<void> {
    const expected =
      record.purgeAt <= now
        ? { outcome: 'unknown' as const }
        : decideAccess(record, policy, now, mode, RETAIN_MS);
    const stored =
      expected.outcome === 'unknown'
        ? undefined
        : expectedStored(
            expected.outcome === 'active'
              ? (expected.write ?? record)
              : expected.endedNow
                ? expected.record
                : record,
            now,
          );
    // A resolver that is not a ContextPolicy takes the JS path (decideAccess + optimistic write).
    const plain: PolicyResolver = { resolve: (session) => policy.resolve(session) };
    for (const resolver of [policy, plain]) {
      await put(record);
      clock.set(now);
      expect(await store.access(record.idHash, mode, resolver)).toEqual(expected);
      expect(await store.get(record.idHash)).toEqual(stored);
    }
  }

  it('decides access exactly like decideAccess, in Lua and in the JS fallback', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, ({ record, now, policy, mode }) =>
        checkAccess(record, policy, now, mode),
      ),
      { numRuns: 200 },
    );
  });

  describe('on the cases where off-by-one and tie bugs hide', () => {
    const live: SessionRecord = {
      idHash: newIdHash(),
      subject: 'u1',
      roles: ['dev', 'ops'],
      userType: 'human',
      attrs: {},
      createdAt: BASE,
      lastActivityAt: BASE,
      idleExpiresAt: BASE + 10_000,
      absoluteExpiresAt: BASE + 10_000,
      rule: 'defaults',
      purgeAt: BASE + 10_000 + RETAIN_MS,
    };
    const withRules = (rules: PolicyRule[], context = {}) =>
      new CompiledPolicy(policyOf(60_000, 400_000, rules)).forContext(context);

    it('gives a tie between equal idle timeouts to the first rule by name', async () => {
      const policy = withRules([
        { name: 'zeta', match: { roles: ['ops'] }, idleMs: 5_000 },
        { name: 'alpha', match: { roles: ['dev'] }, idleMs: 5_000 },
        { name: 'mid', match: { roles: ['dev'] }, idleMs: null },
      ]);
      await checkAccess({ ...live, idleExpiresAt: null }, policy, BASE + 1_000, 'touch');
      expect((await store.get(live.idHash))?.rule).toBe('alpha');
    });

    it('ends a session whose idle and absolute deadlines coincide as absolute, at that instant', async () => {
      const policy = withRules([]);
      await checkAccess(live, policy, BASE + 9_999, 'peek');
      await checkAccess(live, policy, BASE + 10_000, 'touch');
      expect((await store.get(live.idHash))?.endReason).toBe('absolute');
      await checkAccess(live, policy, BASE + 10_001, 'peek');
    });

    it('applies a user-type condition only to sessions of that type', async () => {
      const policy = withRules([
        { name: 'services', match: { userType: ['service'] }, idleMs: 1_000 },
        { name: 'humans', match: { userType: ['human', 'robot'] }, absoluteMs: 5_000 },
      ]);
      const noDeadlines = { ...live, idleExpiresAt: null, absoluteExpiresAt: BASE + 300_000 };
      await checkAccess(noDeadlines, policy, BASE + 2_000, 'touch');
      expect((await store.get(live.idHash))?.idleExpiresAt).toBe(BASE + 62_000);
      await checkAccess(noDeadlines, policy, BASE + 5_000, 'peek');
      await checkAccess({ ...noDeadlines, userType: 'service' }, policy, BASE + 1_000, 'peek');
    });

    it('treats idle off as the least strict value and an empty role list as never matching', async () => {
      const policy = withRules([
        { name: 'a-off', match: { roles: ['dev'] }, idleMs: null },
        { name: 'b-none', match: { roles: [] }, idleMs: 1 },
        { name: 'c-short', match: { roles: ['ops'] }, idleMs: 3_000 },
      ]);
      await checkAccess(
        { ...live, idleExpiresAt: null, absoluteExpiresAt: BASE + 300_000 },
        policy,
        BASE + 2_999,
        'touch',
      );
      expect((await store.get(live.idHash))?.rule).toBe('c-short');
    });
  });

  it('decides revocation exactly like decideRevoke', async () => {
    await fc.assert(
      fc.asyncProperty(
        recordArb.chain((record) => fc.tuple(fc.constant(record), nowArb(record))),
        fc.constantFrom('logout', '', 'x\x1fy'),
        async ([record, now], reason) => {
          await put(record);
          clock.set(now);
          const result = await store.revoke(record.idHash, reason);
          if (record.purgeAt <= now) {
            expect(result).toEqual({ outcome: 'unknown' });
            return;
          }
          const expected = decideRevoke(record, now, reason, RETAIN_MS);
          expect(result).toEqual(expected);
          const written =
            expected.outcome === 'ended' || expected.endedNow ? expected.record : record;
          expect(await store.get(record.idHash)).toEqual(expectedStored(written, now));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('claims expiries exactly like expireIfDue, and files the rest under nextDeadline', async () => {
    await fc.assert(
      fc.asyncProperty(
        recordArb.chain((record) => fc.tuple(fc.constant(record), nowArb(record))),
        async ([record, now]) => {
          await put(record);
          const reply = (await (
            raw as unknown as {
              lapseTestExpire: (...args: (string | Buffer)[]) => Promise<unknown>;
            }
          ).lapseTestExpire(sessionKey(record.idHash), String(now), String(RETAIN_MS))) as [
            number,
            (number | string)?,
          ];
          if (record.purgeAt <= now) {
            expect(reply[0]).toBe(0);
            return;
          }
          if (record.endReason !== undefined) {
            expect(reply).toEqual([2, record.purgeAt]);
            return;
          }
          const expired = expireIfDue(record, now, RETAIN_MS);
          if (expired === undefined) {
            expect(reply).toEqual([1, nextDeadline(record)]);
          } else {
            expect(reply[0]).toBe(3);
            expect(decodeRecord(record.idHash, reply[1] as string)).toEqual(expired);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('creates records exactly like createRecord', async () => {
    await fc.assert(
      fc.asyncProperty(
        contextPolicyArb,
        fc.record(
          {
            subject: fc.constantFrom('u1', 'ü,\x1f|'),
            roles: fc.subarray(ROLES),
            userType: fc.constantFrom(...USER_TYPES),
            attrs: fc.constantFrom({}, { tenant: 't1', level: 2 }),
            createdAt: fc.integer({ min: BASE - 100_000, max: BASE + 100_000 }),
          },
          { requiredKeys: ['subject'] },
        ),
        fc.integer({ min: BASE - 50_000, max: BASE + 50_000 }),
        async (policy, draft, now) => {
          const idHash = newIdHash();
          clock.set(now);
          const result = await store.create(idHash, draft, policy);
          const expected = createRecord(idHash, draft, policy, now, RETAIN_MS);
          expect(result).toEqual({ outcome: 'created', record: expected });
        },
      ),
      { numRuns: 100 },
    );
  });
});
