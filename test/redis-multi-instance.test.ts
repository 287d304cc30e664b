/**
 * Two RedisStore instances on one Redis, in the default mode (Redis `TIME` is
 * the clock), with real short timeouts: what a fleet of gateways relies on.
 * Timing asserts are generous bounds, never exact instants.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../src/errors.js';
import { CompiledPolicy } from '../src/policy/compiled-policy.js';
import type { Policy } from '../src/policy/types.js';
import { SessionAuthority } from '../src/session/authority.js';
import { generateSessionId, hashSessionId } from '../src/session/session-id.js';
import { RedisStore } from '../src/store/redis/index.js';
import type { RevokeNotice } from '../src/store/session-store.js';
import {
  deleteKeysUnder,
  REDIS_URL,
  requireRedis,
  ThrowawayRedis,
} from './helpers/redis-server.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

function policyOf(idleMs: number | null, absoluteMs: number): Policy {
  return {
    version: 1,
    comply: [],
    defaults: { idleMs, absoluteMs, warnMs: 0 },
    ceilings: {},
    rules: [],
    passive: [],
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Date.now as it was before any test replaced it. */
const realNow = Date.now.bind(Date);

const prefixes: string[] = [];
const stores: RedisStore[] = [];
let admin: Redis;

/** A store with its own connection (a URL, so it opens one), as another gateway instance would. */
async function instance(keyPrefix: string, url = REDIS_URL): Promise<RedisStore> {
  const store = new RedisStore({ redis: url, keyPrefix });
  stores.push(store);
  await store.ready();
  return store;
}

function newPrefix(): string {
  const prefix = `lapse-test:${randomBytes(6).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
}

async function redisTime(): Promise<number> {
  const [seconds, micros] = await admin.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

beforeAll(async () => {
  await requireRedis(REDIS_URL);
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  for (const prefix of prefixes) await deleteKeysUnder(admin, prefix);
  await admin.quit();
});

describe('RedisStore instances sharing one Redis', () => {
  it('rejects a session revoked on one instance at once on the other, which hears of it within a second', async () => {
    const keyPrefix = newPrefix();
    const [storeA, storeB] = [await instance(keyPrefix), await instance(keyPrefix)];
    const policy = policyOf(15 * MINUTE, 8 * HOUR);
    const gatewayA = new SessionAuthority({ policy, store: storeA });
    const gatewayB = new SessionAuthority({ policy, store: storeB });
    const heardByA: RevokeNotice[] = [];
    const heardByB: RevokeNotice[] = [];
    storeA.onRevoke((notice) => heardByA.push(notice));
    storeB.onRevoke((notice) => heardByB.push(notice));

    const { id, record } = await gatewayA.begin({ subject: 'alice' });
    expect((await gatewayB.check(id)).ok).toBe(true);
    const revokedAt = performance.now();
    expect((await gatewayA.revoke(id)).outcome).toBe('revoked');
    expect(await gatewayB.check(id)).toMatchObject({ ok: false, reason: 'revoked' });

    const notice = { idHash: record.idHash, subject: 'alice', reason: 'logout' };
    await vi.waitFor(() => expect(heardByB).toEqual([notice]), { timeout: SECOND, interval: 10 });
    expect(performance.now() - revokedAt).toBeLessThan(SECOND);
    await vi.waitFor(() => expect(heardByA).toEqual([notice]), { timeout: SECOND, interval: 10 });

    // "Sign out everywhere" through B reaches A too; each instance hears each revocation once.
    const two = [
      await gatewayB.begin({ subject: 'bob' }),
      await gatewayA.begin({ subject: 'bob' }),
    ];
    expect(await gatewayA.revokeSubject('bob')).toBe(2);
    for (const { id: bobId } of two) {
      expect(await gatewayB.check(bobId)).toMatchObject({ ok: false, reason: 'revoked' });
    }
    await vi.waitFor(() => expect(heardByB).toHaveLength(3), { timeout: SECOND, interval: 10 });
    await sleep(200);
    expect(heardByA).toHaveLength(3);
    expect(heardByB).toHaveLength(3);
    gatewayA.dispose();
    gatewayB.dispose();
  });

  it('takes every deadline from Redis TIME, so instance clocks 5 minutes off change nothing', async () => {
    const keyPrefix = newPrefix();
    const [storeA, storeB] = [await instance(keyPrefix), await instance(keyPrefix)];
    const policy = policyOf(SECOND, HOUR);
    const gatewayA = new SessionAuthority({ policy, store: storeA });
    const gatewayB = new SessionAuthority({ policy, store: storeB });
    const offset = { ms: 5 * MINUTE };
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offset.ms);

    // Instance A "runs 5 minutes fast".
    const begun = await gatewayA.begin({ subject: 'carol' });
    const afterBegin = await redisTime();
    expect(Math.abs(begun.record.createdAt - afterBegin)).toBeLessThan(SECOND);
    expect(Math.abs(Number(begun.status.idleExpiresAt) - (afterBegin + SECOND))).toBeLessThan(
      SECOND,
    );
    expect(Math.abs(begun.record.createdAt - Date.now())).toBeGreaterThan(4 * MINUTE);
    expect(Math.abs((await storeA.now()) - (await redisTime()))).toBeLessThan(SECOND);

    // Instance B "runs 5 minutes slow": same clock, same deadlines.
    offset.ms = -5 * MINUTE;
    const checked = await gatewayB.check(begun.id);
    if (!checked.ok) throw new Error(`expected the session to pass, got ${checked.reason}`);
    const afterCheck = await redisTime();
    expect(Math.abs(checked.status.now - afterCheck)).toBeLessThan(SECOND);
    expect(checked.status.idleExpiresAt).toBe(checked.status.now + SECOND);
    expect(Math.abs((await storeB.now()) - (await redisTime()))).toBeLessThan(SECOND);

    // 1.2 s of real time later the 1 s idle timeout has passed for both, whatever they believe.
    await sleep(1_200);
    offset.ms = 5 * MINUTE;
    expect(await gatewayA.check(begun.id)).toMatchObject({ ok: false, reason: 'idle' });
    offset.ms = -5 * MINUTE;
    expect(await gatewayB.check(begun.id)).toMatchObject({ ok: false, reason: 'idle' });
    const ended = await storeB.get(begun.record.idHash);
    expect(ended?.endedAt).toBe(checked.status.idleExpiresAt);
    gatewayA.dispose();
    gatewayB.dispose();
  });
});

describe('RedisStore when Redis goes away (a throwaway in-memory redis-server)', () => {
  let server: ThrowawayRedis;

  beforeAll(async () => {
    server = await ThrowawayRedis.start();
  });

  afterAll(async () => {
    await server.stop();
  });

  it('rejects every method with LAPSE_STORE_UNAVAILABLE within ~2 s, and recovers when Redis returns', async () => {
    // The sweep timer warns once per outage; this outage is on purpose.
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const store = await instance('lapse:', server.url);
    const context = new CompiledPolicy(policyOf(15 * MINUTE, 8 * HOUR)).forContext({});
    const before = hashSessionId(generateSessionId());
    expect((await store.create(before, { subject: 'dave' }, context)).outcome).toBe('created');
    expect((await store.access(before, 'touch', context)).outcome).toBe('active');

    await server.stop();
    for (let round = 0; round < 2; round++) {
      const started = performance.now();
      const calls: Record<string, Promise<unknown>> = {
        now: store.now(),
        create: store.create(hashSessionId(generateSessionId()), { subject: 'erin' }, context),
        access: store.access(before, 'touch', context),
        revoke: store.revoke(before, 'logout'),
        revokeSubject: store.revokeSubject('dave', 'admin'),
        rotate: store.rotate(before, hashSessionId(generateSessionId()), {}),
        get: store.get(before),
        sweep: store.sweep(),
        ready: store.ready(),
      };
      const outcomes = await Promise.allSettled(Object.values(calls));
      const elapsed = performance.now() - started;
      outcomes.forEach((outcome, i) => {
        const method = Object.keys(calls)[i];
        expect({ method, status: outcome.status }).toEqual({ method, status: 'rejected' });
        if (outcome.status === 'rejected') {
          expect({ method, code: outcome.reason.code }).toEqual({
            method,
            code: ErrorCodes.STORE_UNAVAILABLE,
          });
        }
      });
      expect(elapsed).toBeLessThan(2_000);
      await sleep(300);
    }

    // Back on the same port. It kept nothing (in memory, no persistence), so the
    // old session is gone, and unknown is what a fresh Redis must answer.
    await server.restart();
    const fresh = hashSessionId(generateSessionId());
    await vi.waitFor(
      async () => {
        expect((await store.create(fresh, { subject: 'frank' }, context)).outcome).toBe('created');
      },
      { timeout: 5_000, interval: 100 },
    );
    expect((await store.access(fresh, 'touch', context)).outcome).toBe('active');
    expect((await store.access(before, 'touch', context)).outcome).toBe('unknown');
    // The revocation subscription came back with the connection.
    const heard: RevokeNotice[] = [];
    store.onRevoke((notice) => heard.push(notice));
    await vi.waitFor(
      async () => {
        const probe = hashSessionId(generateSessionId());
        await store.create(probe, { subject: 'grace' }, context);
        await store.revoke(probe, 'probe');
        await sleep(50);
        expect(heard.length).toBeGreaterThan(0);
      },
      { timeout: 5_000, interval: 100 },
    );
  });
  it('rejects within ~2 s when Redis hangs without closing the connection, and recovers when it thaws', async () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    if (!server.isRunning) await server.restart();
    const store = await instance('lapse:', server.url);
    const context = new CompiledPolicy(policyOf(15 * MINUTE, 8 * HOUR)).forContext({});
    const idHash = hashSessionId(generateSessionId());
    expect((await store.create(idHash, { subject: 'heidi' }, context)).outcome).toBe('created');

    // A frozen server keeps its sockets open: only a command timeout notices.
    server.pause();
    try {
      const started = performance.now();
      const outcomes = await Promise.allSettled([
        store.access(idHash, 'touch', context),
        store.get(idHash),
        store.revoke(idHash, 'logout'),
        store.now(),
      ]);
      expect(performance.now() - started).toBeLessThan(2_000);
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        if (outcome.status === 'rejected') {
          expect(outcome.reason.code).toBe(ErrorCodes.STORE_UNAVAILABLE);
        }
      }
    } finally {
      server.resume();
    }
    await vi.waitFor(
      async () => expect((await store.access(idHash, 'peek', context)).outcome).not.toBe('unknown'),
      { timeout: 5_000, interval: 100 },
    );
  });
});
