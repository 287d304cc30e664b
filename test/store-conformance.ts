/**
 * The one conformance suite every `SessionStore` passes (SPEC section 3):
 * memory, SQLite, Redis. Each implementation calls
 * {@link describeStoreConformance} from its own `*.conformance.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../src/errors.js';
import { CompiledPolicy } from '../src/policy/compiled-policy.js';
import type { EnforcementContext, Policy, PolicyRule } from '../src/policy/types.js';
import type { PolicyResolver } from '../src/session/decide.js';
import { generateSessionId, hashSessionId } from '../src/session/session-id.js';
import type { EndReason, SessionDraft, SessionRecord } from '../src/session/types.js';
import type {
  AccessResult,
  RevokeNotice,
  SessionPage,
  SessionQuery,
  SessionStore,
} from '../src/store/session-store.js';

/** What a store implementation hands the suite, fresh for every case. */
export interface StoreHarness {
  /** A store with no sessions whose clock moves only when `advance` is called. */
  readonly store: SessionStore;
  /** Move the store's clock forward by `ms`. */
  advance(ms: number): Promise<void> | void;
  /** Another store object over the same data (another instance), for stores that can share. */
  readonly secondInstance?: () => Promise<SessionStore>;
  /** Close every store this harness opened and release what it holds. */
  close(): Promise<void>;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

interface Timeouts {
  readonly idleMs: number | null;
  readonly absoluteMs: number;
  readonly warnMs?: number;
}

/** A literal policy: defaults plus optional rules. */
function policyOf(defaults: Timeouts, rules: readonly PolicyRule[] = []): Policy {
  return {
    version: 1,
    comply: [],
    defaults: {
      idleMs: defaults.idleMs,
      absoluteMs: defaults.absoluteMs,
      warnMs: defaults.warnMs ?? 0,
    },
    ceilings: {},
    rules,
    passive: [],
  };
}

/** The resolver a store receives for requests in `context`. */
function resolverOf(policy: Policy, context: EnforcementContext = {}): PolicyResolver {
  return new CompiledPolicy(policy).forContext(context);
}

function timeouts(defaults: Timeouts): PolicyResolver {
  return resolverOf(policyOf(defaults));
}

const STANDARD = timeouts({ idleMs: 15 * MINUTE, absoluteMs: 8 * HOUR, warnMs: 2 * MINUTE });
const IDLE_1M = timeouts({ idleMs: MINUTE, absoluteMs: 8 * HOUR });
const IDLE_10M = timeouts({ idleMs: 10 * MINUTE, absoluteMs: 8 * HOUR });

/** Admins get a shorter idle timeout from a rule: their records carry `rule: 'admins'`. */
const WITH_ADMIN_RULE = resolverOf(
  policyOf({ idleMs: 15 * MINUTE, absoluteMs: 8 * HOUR }, [
    { name: 'admins', match: { roles: ['admin'] }, idleMs: 5 * MINUTE },
  ]),
);

function newIdHash(): string {
  return hashSessionId(generateSessionId());
}

type Active = Extract<AccessResult, { outcome: 'active' }>;
type Ended = Extract<AccessResult, { outcome: 'ended' }>;

function expectActive(result: AccessResult): Active {
  if (result.outcome !== 'active') {
    const why = result.outcome === 'ended' ? ` (${result.reason})` : '';
    throw new Error(`expected an active session, got ${result.outcome}${why}`);
  }
  return result;
}

function expectEnded(result: AccessResult, reason: EndReason): Ended {
  if (result.outcome !== 'ended')
    throw new Error(`expected an ended session, got ${result.outcome}`);
  expect(result.reason).toBe(reason);
  expect(result.record.endReason).toBe(reason);
  return result;
}

function expectPurgeable(record: SessionRecord | undefined): void {
  expect(record).toBeDefined();
  const { purgeAt, absoluteExpiresAt, endedAt } = record as SessionRecord;
  expect(Number.isFinite(purgeAt)).toBe(true);
  expect(purgeAt).toBeGreaterThanOrEqual(absoluteExpiresAt);
  if (endedAt !== undefined) expect(purgeAt).toBeGreaterThanOrEqual(endedAt);
}

/**
 * Register the conformance cases for one store implementation.
 *
 * @example
 * import { describeStoreConformance } from '../test/store-conformance.js';
 * describeStoreConformance('MemoryStore', async () => { ... return { store, advance, close }; });
 * describeStoreConformance('RedisStore', harness, { shared: true }); // also the multi-instance cases
 */
export function describeStoreConformance(
  name: string,
  harness: () => Promise<StoreHarness>,
  capabilities: { readonly shared?: boolean } = {},
): void {
  describe(`SessionStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let store: SessionStore;

    beforeEach(async () => {
      h = await harness();
      store = h.store;
    });

    afterEach(async () => {
      vi.restoreAllMocks();
      await h.close();
    });

    function secondInstance(): Promise<SessionStore> {
      if (h.secondInstance === undefined) {
        throw new Error(`${name} declares { shared: true } but its harness has no secondInstance`);
      }
      return h.secondInstance();
    }

    async function begin(
      policy: PolicyResolver = STANDARD,
      draft: SessionDraft = { subject: 'u1' },
    ): Promise<{ idHash: string; record: SessionRecord }> {
      const idHash = newIdHash();
      const created = await store.create(idHash, draft, policy);
      expect(created.outcome).toBe('created');
      return { idHash, record: created.record };
    }

    describe('clock', () => {
      it('reports its own clock, which moves exactly as the harness advances it', async () => {
        const start = await store.now();
        await h.advance(1234);
        expect(await store.now()).toBe(start + 1234);
      });
    });

    describe('create', () => {
      it('creates a session from a draft with deadlines from the policy', async () => {
        const now = await store.now();
        const { idHash, record } = await begin(STANDARD, { subject: 'u1', roles: ['dev'] });
        expect(record).toMatchObject({
          idHash,
          subject: 'u1',
          roles: ['dev'],
          userType: 'human',
          attrs: {},
          createdAt: now,
          lastActivityAt: now,
          idleExpiresAt: now + 15 * MINUTE,
          absoluteExpiresAt: now + 8 * HOUR,
          rule: 'defaults',
        });
        expect(record.endReason).toBeUndefined();
        expectPurgeable(record);
        expect(await store.get(idHash)).toEqual(record);
      });

      it('keeps user type, attrs and an earlier authentication time from the draft', async () => {
        const now = await store.now();
        const { record } = await begin(STANDARD, {
          subject: 'svc',
          userType: 'service',
          attrs: { tenant: 't1', level: 2, mfa: true },
          createdAt: now - HOUR,
        });
        expect(record).toMatchObject({
          userType: 'service',
          attrs: { tenant: 't1', level: 2, mfa: true },
          createdAt: now - HOUR,
          lastActivityAt: now,
          absoluteExpiresAt: now + 7 * HOUR,
        });
      });

      it('reports an existing id as exists and changes nothing', async () => {
        const { idHash, record } = await begin(STANDARD, { subject: 'u1' });
        await h.advance(MINUTE);
        const again = await store.create(
          idHash,
          { subject: 'intruder', roles: ['admin'] },
          IDLE_1M,
        );
        expect(again.outcome).toBe('exists');
        expect(again.record).toEqual(record);
        expect(await store.get(idHash)).toEqual(record);
      });
    });

    describe('unknown ids', () => {
      it('answers unknown for an id it never stored, and never adopts it', async () => {
        const idHash = newIdHash();
        expect((await store.access(idHash, 'touch', STANDARD)).outcome).toBe('unknown');
        expect((await store.access(idHash, 'peek', STANDARD)).outcome).toBe('unknown');
        expect((await store.revoke(idHash, 'logout')).outcome).toBe('unknown');
        expect((await store.rotate(idHash, newIdHash(), {})).outcome).toBe('unknown');
        expect(await store.revokeSubject('nobody', 'admin')).toEqual([]);
        expect(await store.get(idHash)).toBeUndefined();
      });
    });

    describe('touch and peek', () => {
      it('moves lastActivityAt forward and pushes the idle deadline on a genuine touch', async () => {
        const start = await store.now();
        const { idHash } = await begin(STANDARD);
        await h.advance(5 * MINUTE);
        const touched = expectActive(await store.access(idHash, 'touch', STANDARD));
        expect(touched.record.lastActivityAt).toBe(start + 5 * MINUTE);
        expect(touched.record.idleExpiresAt).toBe(start + 20 * MINUTE);
        expect(touched.status.idleExpiresAt).toBe(start + 20 * MINUTE);
        expect(touched.status.now).toBe(start + 5 * MINUTE);
        expect(await store.get(idHash)).toEqual(touched.record);
        await h.advance(14 * MINUTE);
        expectActive(await store.access(idHash, 'peek', STANDARD));
      });

      it('never moves lastActivityAt or writes on a peek', async () => {
        const { idHash, record } = await begin(STANDARD);
        await h.advance(5 * MINUTE);
        const peeked = expectActive(await store.access(idHash, 'peek', STANDARD));
        expect(peeked.write).toBeUndefined();
        expect(peeked.record.lastActivityAt).toBe(record.lastActivityAt);
        expect(await store.get(idHash)).toEqual(record);
        await h.advance(10 * MINUTE);
        expectEnded(await store.access(idHash, 'peek', STANDARD), 'idle');
      });
    });

    describe('idle timeout', () => {
      it('accepts a touch 1 ms before the idle deadline', async () => {
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE - 1);
        expectActive(await store.access(idHash, 'touch', IDLE_1M));
      });

      it('rejects a touch that arrives exactly at the idle deadline', async () => {
        const start = await store.now();
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE);
        const ended = expectEnded(await store.access(idHash, 'touch', IDLE_1M), 'idle');
        expect(ended.endedNow).toBe(true);
        expect(ended.record.endedAt).toBe(start + MINUTE);
        expect(ended.record.lastActivityAt).toBe(start);
        expect((await store.get(idHash))?.endReason).toBe('idle');
      });

      it('rejects a peek that arrives exactly at the idle deadline', async () => {
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE - 1);
        expectActive(await store.access(idHash, 'peek', IDLE_1M));
        await h.advance(1);
        expectEnded(await store.access(idHash, 'peek', IDLE_1M), 'idle');
      });
    });

    describe('absolute timeout', () => {
      it('ends a session at the absolute deadline however active it is', async () => {
        const policy = timeouts({ idleMs: 10 * MINUTE, absoluteMs: 30 * MINUTE });
        const start = await store.now();
        const { idHash } = await begin(policy);
        for (let i = 0; i < 5; i++) {
          await h.advance(5 * MINUTE);
          expectActive(await store.access(idHash, 'touch', policy));
        }
        await h.advance(5 * MINUTE - 1);
        const last = expectActive(await store.access(idHash, 'touch', policy));
        expect(last.status.absoluteExpiresAt).toBe(start + 30 * MINUTE);
        await h.advance(1);
        const ended = expectEnded(await store.access(idHash, 'touch', policy), 'absolute');
        expect(ended.record.endedAt).toBe(start + 30 * MINUTE);
      });

      it('enforces the absolute deadline when idle is off', async () => {
        const policy = timeouts({ idleMs: null, absoluteMs: HOUR });
        const { idHash, record } = await begin(policy);
        expect(record.idleExpiresAt).toBeNull();
        await h.advance(HOUR - 1);
        const peeked = expectActive(await store.access(idHash, 'peek', policy));
        expect(peeked.status.idleExpiresAt).toBeNull();
        await h.advance(1);
        expectEnded(await store.access(idHash, 'touch', policy), 'absolute');
      });
    });

    describe('expired is final', () => {
      it('keeps an expired session expired with its original reason, even under a looser policy', async () => {
        const loose = timeouts({ idleMs: HOUR, absoluteMs: 8 * HOUR });
        const { idHash, record } = await begin(IDLE_1M);
        await h.advance(MINUTE);
        expectEnded(await store.access(idHash, 'touch', IDLE_1M), 'idle');
        const replay = expectEnded(await store.access(idHash, 'touch', loose), 'idle');
        expect(replay.endedNow).toBe(false);
        await h.advance(MINUTE);
        expectEnded(await store.access(idHash, 'touch', loose), 'idle');
        const stored = await store.get(idHash);
        expect(stored?.endReason).toBe('idle');
        expect(stored?.lastActivityAt).toBe(record.lastActivityAt);
      });

      it('does not revive a session whose stored deadline passed when a looser policy touches it', async () => {
        const loose = timeouts({ idleMs: HOUR, absoluteMs: 8 * HOUR });
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE);
        expectEnded(await store.access(idHash, 'touch', loose), 'idle');
        expectEnded(await store.access(idHash, 'peek', loose), 'idle');
      });
    });

    describe('warning', () => {
      it('reports the warning state inside the warn period and leaves it on a touch', async () => {
        const policy = timeouts({ idleMs: 10 * MINUTE, absoluteMs: 8 * HOUR, warnMs: 2 * MINUTE });
        const start = await store.now();
        const { idHash } = await begin(policy);
        await h.advance(8 * MINUTE - 1);
        const before = expectActive(await store.access(idHash, 'peek', policy));
        expect(before.status.state).toBe('active');
        expect(before.status.warnAt).toBe(start + 8 * MINUTE);
        await h.advance(1);
        expect(expectActive(await store.access(idHash, 'peek', policy)).status.state).toBe(
          'warning',
        );
        const touched = expectActive(await store.access(idHash, 'touch', policy));
        expect(touched.status.state).toBe('active');
        expect(touched.status.warnAt).toBe(start + 16 * MINUTE);
      });
    });

    describe('revoke', () => {
      it('rejects every later access to a revoked session as revoked', async () => {
        const start = await store.now();
        const { idHash } = await begin(STANDARD);
        await h.advance(SECOND);
        const revoked = await store.revoke(idHash, 'logout');
        if (revoked.outcome !== 'ended') throw new Error(`expected ended, got ${revoked.outcome}`);
        expect(revoked.record).toMatchObject({
          endReason: 'revoked',
          revokeReason: 'logout',
          endedAt: start + SECOND,
        });
        expectPurgeable(revoked.record);
        const touch = expectEnded(await store.access(idHash, 'touch', STANDARD), 'revoked');
        expect(touch.endedNow).toBe(false);
        expectEnded(await store.access(idHash, 'peek', STANDARD), 'revoked');
        const again = await store.revoke(idHash, 'admin');
        expect(again).toMatchObject({
          outcome: 'already-ended',
          reason: 'revoked',
          endedNow: false,
        });
        expect((await store.get(idHash))?.revokeReason).toBe('logout');
      });

      it('keeps idle as the reason when revoking a session already past its idle deadline', async () => {
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE);
        const revoked = await store.revoke(idHash, 'logout');
        expect(revoked).toMatchObject({ outcome: 'already-ended', reason: 'idle', endedNow: true });
        expect((await store.get(idHash))?.endReason).toBe('idle');
        expectEnded(await store.access(idHash, 'touch', IDLE_1M), 'idle');
      });

      it('keeps absolute as the reason when revoking a session past its absolute deadline', async () => {
        const policy = timeouts({ idleMs: null, absoluteMs: HOUR });
        const { idHash } = await begin(policy);
        await h.advance(HOUR);
        expect(await store.revoke(idHash, 'logout')).toMatchObject({
          outcome: 'already-ended',
          reason: 'absolute',
        });
        expectEnded(await store.access(idHash, 'peek', policy), 'absolute');
      });

      it('revokeSubject ends every live session of one subject and no one else', async () => {
        const alice1 = await begin(STANDARD, { subject: 'alice' });
        const alice2 = await begin(STANDARD, { subject: 'alice', roles: ['admin'] });
        const aliceOut = await begin(STANDARD, { subject: 'alice' });
        const aliceIdle = await begin(IDLE_1M, { subject: 'alice' });
        const bob = await begin(STANDARD, { subject: 'bob' });
        await store.revoke(aliceOut.idHash, 'logout');
        await h.advance(MINUTE);
        const revoked = await store.revokeSubject('alice', 'disabled');
        expect(revoked.map((record) => record.idHash).sort()).toEqual(
          [alice1.idHash, alice2.idHash].sort(),
        );
        for (const record of revoked) {
          expect(record).toMatchObject({ endReason: 'revoked', revokeReason: 'disabled' });
        }
        expectEnded(await store.access(alice1.idHash, 'touch', STANDARD), 'revoked');
        expectEnded(await store.access(alice2.idHash, 'touch', STANDARD), 'revoked');
        expect((await store.get(aliceOut.idHash))?.revokeReason).toBe('logout');
        expectEnded(await store.access(aliceIdle.idHash, 'touch', IDLE_1M), 'idle');
        expectActive(await store.access(bob.idHash, 'touch', STANDARD));
        expect(await store.revokeSubject('alice', 'disabled')).toEqual([]);
      });
    });

    describe('revocation notices', () => {
      it('tells revoke listeners of each revocation, once, with subject and reason', async () => {
        const heard: RevokeNotice[] = [];
        store.onRevoke((notice) => heard.push(notice));
        const a = await begin(STANDARD, { subject: 'u1' });
        const b = await begin(STANDARD, { subject: 'u2' });
        const c = await begin(STANDARD, { subject: 'u2' });
        await store.revoke(a.idHash, 'logout');
        await store.revoke(a.idHash, 'logout');
        await store.revokeSubject('u2', 'subject');
        await vi.waitFor(() => expect(heard).toHaveLength(3), { timeout: 2_000 });
        expect(heard[0]).toEqual({ idHash: a.idHash, subject: 'u1', reason: 'logout' });
        expect(
          heard
            .slice(1)
            .map((notice) => notice.idHash)
            .sort(),
        ).toEqual([b.idHash, c.idHash].sort());
        expect(heard.slice(1).every((notice) => notice.reason === 'subject')).toBe(true);
      });

      it('says nothing for a session that had already expired, or after unsubscribing', async () => {
        const heard: RevokeNotice[] = [];
        const stop = store.onRevoke((notice) => heard.push(notice));
        const expired = await begin(IDLE_1M);
        await h.advance(MINUTE);
        await store.revoke(expired.idHash, 'logout');
        stop();
        const live = await begin(STANDARD);
        await store.revoke(live.idHash, 'logout');
        // Give a store that delivers asynchronously the time it would need.
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(heard).toEqual([]);
      });
    });

    describe('rotate', () => {
      it('retires the old id and carries createdAt and deadlines to the new id', async () => {
        const { idHash, record } = await begin(STANDARD, { subject: 'u1', roles: ['dev'] });
        await h.advance(5 * MINUTE);
        const touched = expectActive(await store.access(idHash, 'touch', STANDARD)).record;
        await h.advance(MINUTE);
        const successorHash = newIdHash();
        const rotated = await store.rotate(idHash, successorHash, { roles: ['admin'] });
        if (rotated.outcome !== 'rotated')
          throw new Error(`expected rotated, got ${rotated.outcome}`);
        expect(rotated.retired).toMatchObject({ idHash, endReason: 'rotated' });
        expectPurgeable(rotated.retired);
        expect(rotated.successor).toMatchObject({
          idHash: successorHash,
          subject: 'u1',
          roles: ['admin'],
          createdAt: record.createdAt,
          lastActivityAt: touched.lastActivityAt,
          idleExpiresAt: touched.idleExpiresAt,
          absoluteExpiresAt: touched.absoluteExpiresAt,
        });
        expect(rotated.successor.endReason).toBeUndefined();
        expectPurgeable(rotated.successor);
        expect(await store.get(successorHash)).toEqual(rotated.successor);
        const replay = expectEnded(await store.access(idHash, 'touch', STANDARD), 'rotated');
        expect(replay.endedNow).toBe(false);
        expectActive(await store.access(successorHash, 'touch', STANDARD));
        const mine = await store.revokeSubject('u1', 'admin');
        expect(mine.map((revoked) => revoked.idHash)).toEqual([successorHash]);
      });

      it('refuses to rotate onto an id that is taken, and changes nothing', async () => {
        const first = await begin(STANDARD, { subject: 'u1' });
        const second = await begin(STANDARD, { subject: 'u2' });
        const result = await store.rotate(first.idHash, second.idHash, { roles: ['admin'] });
        expect(result.outcome).toBe('conflict');
        expect(await store.get(first.idHash)).toEqual(first.record);
        expect(await store.get(second.idHash)).toEqual(second.record);
        expect((await store.rotate(first.idHash, first.idHash, {})).outcome).toBe('conflict');
        expect(await store.get(first.idHash)).toEqual(first.record);
      });

      it('answers unknown when rotating an id it never stored, and creates nothing', async () => {
        const successorHash = newIdHash();
        expect((await store.rotate(newIdHash(), successorHash, {})).outcome).toBe('unknown');
        expect(await store.get(successorHash)).toBeUndefined();
      });

      it('does not rotate a session that already ended', async () => {
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE);
        const successorHash = newIdHash();
        expect(await store.rotate(idHash, successorHash, {})).toMatchObject({
          outcome: 'already-ended',
          reason: 'idle',
        });
        expect(await store.get(successorHash)).toBeUndefined();
        expect((await store.get(idHash))?.endReason).toBe('idle');
      });
    });

    describe('sweep', () => {
      it('ends due sessions exactly once, tells listeners once, and leaves the rest', async () => {
        const start = await store.now();
        const heard: SessionRecord[] = [];
        store.onExpire((record) => heard.push(record));
        const due1 = await begin(IDLE_1M, { subject: 'a' });
        const due2 = await begin(IDLE_1M, { subject: 'b' });
        const later = await begin(IDLE_10M, { subject: 'c' });
        await h.advance(MINUTE - 1);
        expect(await store.sweep()).toEqual([]);
        expect(heard).toEqual([]);
        await h.advance(1);
        const swept = await store.sweep();
        expect(swept.map((record) => record.idHash).sort()).toEqual(
          [due1.idHash, due2.idHash].sort(),
        );
        for (const record of swept) {
          expect(record).toMatchObject({ endReason: 'idle', endedAt: start + MINUTE });
          expectPurgeable(record);
        }
        expect(heard.map((record) => record.idHash).sort()).toEqual(
          [due1.idHash, due2.idHash].sort(),
        );
        expect(await store.sweep()).toEqual([]);
        await h.advance(SECOND);
        expect(await store.sweep()).toEqual([]);
        expect(heard).toHaveLength(2);
        const replay = expectEnded(await store.access(due1.idHash, 'touch', IDLE_1M), 'idle');
        expect(replay.endedNow).toBe(false);
        expectActive(await store.access(later.idHash, 'peek', IDLE_10M));
      });

      it('ends a session whose deadline a touch pushed only once the new deadline passes', async () => {
        const { idHash } = await begin(IDLE_1M);
        await h.advance(30 * SECOND);
        expectActive(await store.access(idHash, 'touch', IDLE_1M));
        await h.advance(30 * SECOND);
        expect(await store.sweep()).toEqual([]);
        await h.advance(30 * SECOND);
        const swept = await store.sweep();
        expect(swept.map((record) => record.idHash)).toEqual([idHash]);
      });

      it('sweeps a session at the earlier deadline a stricter context wrote', async () => {
        const policy = policyOf({ idleMs: HOUR, absoluteMs: 8 * HOUR }, [
          { name: 'production', match: { environment: ['production'] }, idleMs: MINUTE },
        ]);
        const { idHash } = await begin(resolverOf(policy, { environment: 'staging' }));
        expect(await store.sweep()).toEqual([]);
        await h.advance(SECOND);
        expectActive(
          await store.access(idHash, 'touch', resolverOf(policy, { environment: 'production' })),
        );
        await h.advance(MINUTE - 1);
        expect(await store.sweep()).toEqual([]);
        await h.advance(1);
        const swept = await store.sweep();
        expect(swept.map((record) => record.idHash)).toEqual([idHash]);
        expect(swept[0]?.endReason).toBe('idle');
      });

      it('does not tell listeners about sessions ended by access or revoke', async () => {
        const heard: SessionRecord[] = [];
        store.onExpire((record) => heard.push(record));
        const byAccess = await begin(IDLE_1M);
        const byRevoke = await begin(IDLE_1M);
        const revoked = await begin(IDLE_10M);
        await h.advance(MINUTE);
        expectEnded(await store.access(byAccess.idHash, 'peek', IDLE_1M), 'idle');
        expect(await store.revoke(byRevoke.idHash, 'logout')).toMatchObject({ endedNow: true });
        await store.revoke(revoked.idHash, 'logout');
        expect(await store.sweep()).toEqual([]);
        expect(heard).toEqual([]);
      });

      it('stops telling a listener once it unsubscribes', async () => {
        const heard: string[] = [];
        const stop = store.onExpire((record) => heard.push(record.idHash));
        const first = await begin(IDLE_1M);
        await h.advance(MINUTE);
        await store.sweep();
        stop();
        await begin(IDLE_1M);
        await h.advance(MINUTE);
        expect(await store.sweep()).toHaveLength(1);
        expect(heard).toEqual([first.idHash]);
      });

      it('keeps sweeping and telling the other listeners when one listener throws', async () => {
        vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
        const heard: string[] = [];
        store.onExpire(() => {
          throw new Error('listener failure');
        });
        store.onExpire((record) => heard.push(record.idHash));
        const a = await begin(IDLE_1M);
        const b = await begin(IDLE_1M);
        await h.advance(MINUTE);
        const swept = await store.sweep();
        expect(swept).toHaveLength(2);
        expect(heard.sort()).toEqual([a.idHash, b.idHash].sort());
      });
    });

    describe('retention', () => {
      it('keeps an ended record with its reason until purgeAt, then forgets it', async () => {
        const { idHash } = await begin(IDLE_1M);
        await h.advance(MINUTE);
        const ended = expectEnded(await store.access(idHash, 'touch', IDLE_1M), 'idle');
        const { purgeAt } = ended.record;
        await h.advance(purgeAt - (await store.now()) - 1);
        expectEnded(await store.access(idHash, 'touch', IDLE_1M), 'idle');
        expect((await store.get(idHash))?.endReason).toBe('idle');
        await h.advance(1);
        expect(await store.get(idHash)).toBeUndefined();
        expect((await store.access(idHash, 'touch', IDLE_1M)).outcome).toBe('unknown');
        expect((await store.revoke(idHash, 'logout')).outcome).toBe('unknown');
      });

      it('forgets a session the sweep ended once its purgeAt passes, and a new create may reuse the key', async () => {
        const { idHash } = await begin(IDLE_1M, { subject: 'gone' });
        await h.advance(MINUTE);
        const [swept] = await store.sweep();
        expect(swept?.idHash).toBe(idHash);
        await h.advance((swept as SessionRecord).purgeAt - (await store.now()));
        expect(await store.sweep()).toEqual([]);
        expect(await store.get(idHash)).toBeUndefined();
        expect(await store.revokeSubject('gone', 'admin')).toEqual([]);
        expect((await store.create(idHash, { subject: 'new' }, STANDARD)).outcome).toBe('created');
      });
    });

    describe('policy changes', () => {
      it('applies a stricter context policy to an existing session at once', async () => {
        const policy = policyOf({ idleMs: 30 * MINUTE, absoluteMs: 8 * HOUR }, [
          { name: 'production', match: { environment: ['production'] }, idleMs: 5 * MINUTE },
        ]);
        const staging = resolverOf(policy, { environment: 'staging' });
        const production = resolverOf(policy, { environment: 'production' });
        const start = await store.now();
        const { idHash } = await begin(staging);
        await h.advance(4 * MINUTE);
        expectActive(await store.access(idHash, 'touch', staging));
        await h.advance(5 * MINUTE);
        expectActive(await store.access(idHash, 'peek', staging));
        const ended = expectEnded(await store.access(idHash, 'peek', production), 'idle');
        expect(ended.record.endedAt).toBe(start + 9 * MINUTE);
        expectEnded(await store.access(idHash, 'touch', staging), 'idle');
      });

      it('applies a stricter absolute timeout for a role at once', async () => {
        const policy = policyOf({ idleMs: 30 * MINUTE, absoluteMs: 8 * HOUR }, [
          { name: 'admins', match: { roles: ['admin'] }, absoluteMs: HOUR },
        ]);
        const { idHash } = await begin(timeouts({ idleMs: 30 * MINUTE, absoluteMs: 8 * HOUR }), {
          subject: 'u1',
          roles: ['admin'],
        });
        const admins = resolverOf(policy);
        for (let i = 0; i < 2; i++) {
          await h.advance(20 * MINUTE);
          expectActive(await store.access(idHash, 'touch', admins));
        }
        await h.advance(20 * MINUTE - 1);
        expectActive(await store.access(idHash, 'touch', admins));
        await h.advance(1);
        expectEnded(await store.access(idHash, 'touch', admins), 'absolute');
      });
    });

    describe('expiry is always set', () => {
      it('never holds a record without purgeAt, whatever happened to it', async () => {
        const created = await begin(IDLE_1M, { subject: 'p' });
        const touched = await begin(IDLE_1M, { subject: 'p' });
        const revoked = await begin(IDLE_1M, { subject: 'p' });
        const rotated = await begin(IDLE_1M, { subject: 'p' });
        const bySubject = await begin(IDLE_1M, { subject: 'q' });
        const swept = await begin(IDLE_1M, { subject: 'r' });
        await h.advance(SECOND);
        await store.access(touched.idHash, 'touch', IDLE_1M);
        await store.access(created.idHash, 'peek', IDLE_1M);
        await store.revoke(revoked.idHash, 'logout');
        const successorHash = newIdHash();
        await store.rotate(rotated.idHash, successorHash, {});
        await store.revokeSubject('q', 'admin');
        for (const idHash of [
          created.idHash,
          touched.idHash,
          revoked.idHash,
          rotated.idHash,
          successorHash,
          bySubject.idHash,
          swept.idHash,
        ]) {
          expectPurgeable(await store.get(idHash));
        }
        await h.advance(MINUTE);
        await store.sweep();
        expectPurgeable(await store.get(swept.idHash));
        await store.access(successorHash, 'touch', IDLE_1M);
        expectPurgeable(await store.get(successorHash));
      });
    });

    describe('concurrency', () => {
      it('never moves lastActivityAt backwards nor revives an ended session under 50 parallel touches', async () => {
        const policy = timeouts({ idleMs: 20 * SECOND, absoluteMs: HOUR });
        const { idHash } = await begin(policy);
        const pending: Promise<AccessResult>[] = [];
        for (let i = 0; i < 50; i++) {
          pending.push(store.access(idHash, 'touch', policy));
          await h.advance(i === 25 ? 21 * SECOND : SECOND);
        }
        const results = await Promise.all(pending);
        const final = await store.get(idHash);
        expect(final?.endReason).toBe('idle');
        const endedAt = final?.endedAt as number;
        const active = results.filter((result) => result.outcome === 'active');
        expect(active.length).toBeGreaterThan(0);
        expect(results.length - active.length).toBeGreaterThan(0);
        for (const result of results) {
          if (result.outcome === 'ended') expect(result.reason).toBe('idle');
        }
        const byDecisionTime = active.map(expectActive).sort((a, b) => a.status.now - b.status.now);
        let previous = Number.NEGATIVE_INFINITY;
        for (const result of byDecisionTime) {
          expect(result.status.now).toBeLessThan(endedAt);
          expect(result.record.lastActivityAt).toBeGreaterThanOrEqual(previous);
          previous = result.record.lastActivityAt;
        }
        expect(final?.lastActivityAt).toBe(previous);
        expect(final?.endedAt).toBe(previous + 20 * SECOND);
      });

      it('ends revoked when a revoke races with touches', async () => {
        const { idHash } = await begin(STANDARD);
        const touches = () =>
          Array.from({ length: 10 }, () => store.access(idHash, 'touch', STANDARD));
        const [, , revoked] = await Promise.all([
          Promise.all(touches()),
          h.advance(SECOND),
          store.revoke(idHash, 'logout'),
          Promise.all(touches()),
        ]);
        expect(revoked.outcome).toBe('ended');
        expect((await store.get(idHash))?.endReason).toBe('revoked');
        expectEnded(await store.access(idHash, 'touch', STANDARD), 'revoked');
      });
    });

    describe('list', () => {
      /** Every page of `query` from the first, walking `next` to the end. */
      async function walk(query: SessionQuery = {}): Promise<SessionPage[]> {
        const pages: SessionPage[] = [];
        let cursor: string | undefined;
        for (let guard = 0; guard < 10_000; guard++) {
          const page = await store.list(cursor === undefined ? query : { ...query, cursor });
          pages.push(page);
          if (page.next === null) return pages;
          expect(page.records).toHaveLength(query.limit ?? 100);
          cursor = page.next;
        }
        throw new Error('list never returned next: null');
      }

      async function listAll(query: SessionQuery = {}): Promise<string[]> {
        return (await walk({ limit: 1000, ...query })).flatMap((page) =>
          page.records.map((record) => record.idHash),
        );
      }

      /** 25 sessions: 5 subjects, every third an admin (rule `admins`), every fifth also `dev`. */
      async function population(): Promise<SessionRecord[]> {
        const created: SessionRecord[] = [];
        for (let i = 0; i < 25; i++) {
          const roles = [
            ...(i % 3 === 0 ? ['admin'] : []),
            ...(i % 5 === 0 ? ['dev'] : []),
            ...(i % 7 === 0 ? ['ops'] : []),
          ];
          const draft = { subject: `user-${i % 5}`, roles };
          created.push((await begin(WITH_ADMIN_RULE, draft)).record);
        }
        return created;
      }

      function hashes(records: readonly SessionRecord[]): string[] {
        return records.map((record) => record.idHash);
      }

      async function expectOptionError(query: unknown, option: string): Promise<void> {
        await expect(store.list(query as SessionQuery)).rejects.toMatchObject({
          code: ErrorCodes.OPTION_INVALID,
          option,
        });
      }

      it('returns no records and no next page for an empty store', async () => {
        const page = await store.list();
        expect(page).toEqual({ now: await store.now(), records: [], next: null });
        for (const state of ['live', 'ended', 'any'] as const) {
          expect(await store.list({ state, limit: 1 })).toMatchObject({ records: [], next: null });
        }
        expect(await store.list({ subject: 'nobody' })).toMatchObject({ records: [], next: null });
      });

      it('returns every record exactly once, as stored, whatever the page size, in one stable order', async () => {
        const created = await population();
        const [whole] = await walk({ limit: 1000 });
        expect(whole?.next).toBeNull();
        const order = hashes(whole?.records ?? []);
        expect([...order].sort()).toEqual(hashes(created).sort());
        for (const record of whole?.records ?? []) {
          expect(record).toEqual(await store.get(record.idHash));
        }
        for (const limit of [1, 2, 3, 7, 24, 25, 26]) {
          const pages = await walk({ limit });
          expect(pages.flatMap((page) => hashes(page.records))).toEqual(order);
          expect(pages).toHaveLength(Math.max(1, Math.ceil(25 / limit)));
          // A page with a next is full; only the last one may be short, and its next is null.
          expect(pages.at(-1)?.next).toBeNull();
        }
      });

      it('filters by subject, role and rule, alone and together', async () => {
        const created = await population();
        const expected = (keep: (record: SessionRecord) => boolean) =>
          hashes(created.filter(keep)).sort();
        const sorted = async (query: SessionQuery) => (await listAll(query)).sort();
        expect(await sorted({ subject: 'user-2' })).toEqual(
          expected((record) => record.subject === 'user-2'),
        );
        expect(await sorted({ role: 'dev' })).toEqual(
          expected((record) => record.roles.includes('dev')),
        );
        expect(await sorted({ rule: 'admins' })).toEqual(
          expected((record) => record.rule === 'admins'),
        );
        expect(created.filter((record) => record.rule === 'admins')).toHaveLength(9);
        expect(await sorted({ rule: 'defaults' })).toEqual(
          expected((record) => record.rule === 'defaults'),
        );
        expect(await sorted({ subject: 'user-0', role: 'admin', rule: 'admins' })).toEqual(
          expected(
            (record) =>
              record.subject === 'user-0' &&
              record.roles.includes('admin') &&
              record.rule === 'admins',
          ),
        );
        expect(await sorted({ subject: 'user-0', role: 'ops' })).toEqual(
          expected((record) => record.subject === 'user-0' && record.roles.includes('ops')),
        );
        expect(await sorted({ subject: 'user-1', rule: 'nope' })).toEqual([]);
        expect(await sorted({ subject: 'nobody' })).toEqual([]);
        expect(await sorted({ role: 'ad' })).toEqual([]);
        // Paging a filtered list also returns each record once.
        expect(
          (await walk({ role: 'admin', limit: 2 })).flatMap((page) => hashes(page.records)).sort(),
        ).toEqual(expected((record) => record.roles.includes('admin')));
        expect(
          (await walk({ subject: 'user-3', limit: 1 }))
            .flatMap((page) => hashes(page.records))
            .sort(),
        ).toEqual(expected((record) => record.subject === 'user-3'));
      });

      it('tells live from ended on its own clock: revoked, past a deadline without a sweep, and swept', async () => {
        const start = await store.now();
        const live = await begin(STANDARD, { subject: 's' });
        const revoked = await begin(STANDARD, { subject: 's' });
        const idle = await begin(IDLE_1M, { subject: 's' });
        const swept = await begin(IDLE_1M, { subject: 't' });
        await store.revoke(revoked.idHash, 'logout');
        const states = async () => ({
          live: (await listAll({ state: 'live' })).sort(),
          ended: (await listAll({ state: 'ended' })).sort(),
          any: (await listAll({ state: 'any' })).sort(),
          byDefault: (await listAll()).sort(),
        });
        expect(await states()).toEqual({
          live: [live.idHash, idle.idHash, swept.idHash].sort(),
          ended: [revoked.idHash],
          any: [live.idHash, revoked.idHash, idle.idHash, swept.idHash].sort(),
          byDefault: [live.idHash, idle.idHash, swept.idHash].sort(),
        });
        await h.advance(MINUTE - 1);
        expect((await states()).live).toEqual([live.idHash, idle.idHash, swept.idHash].sort());
        // At the idle deadline (half-open), with no sweep and no access: ended, stored as it was.
        await h.advance(1);
        const page = await store.list({ state: 'ended', limit: 1000 });
        expect(page.now).toBe(start + MINUTE);
        expect(hashes(page.records).sort()).toEqual(
          [revoked.idHash, idle.idHash, swept.idHash].sort(),
        );
        const unswept = page.records.find((record) => record.idHash === idle.idHash);
        expect(unswept?.endReason).toBeUndefined();
        expect(unswept).toEqual(idle.record);
        expect(hashes((await store.list({ state: 'live' })).records)).toEqual([live.idHash]);
        await store.sweep();
        expect(await states()).toEqual({
          live: [live.idHash],
          ended: [revoked.idHash, idle.idHash, swept.idHash].sort(),
          any: [live.idHash, revoked.idHash, idle.idHash, swept.idHash].sort(),
          byDefault: [live.idHash],
        });
        expect(await listAll({ subject: 't', state: 'ended' })).toEqual([swept.idHash]);
        expect(await listAll({ subject: 't', state: 'live' })).toEqual([]);
      });

      it('leaves out records past purgeAt, swept or not', async () => {
        const { idHash } = await begin(IDLE_1M, { subject: 'p' });
        await h.advance(MINUTE);
        expect(await listAll({ state: 'ended' })).toEqual([idHash]);
        const stored = (await store.get(idHash)) as SessionRecord;
        await h.advance(stored.purgeAt - (await store.now()));
        expect(await listAll({ state: 'any' })).toEqual([]);
        expect(await listAll({ state: 'any', subject: 'p' })).toEqual([]);
      });

      it('pages 100 live records by default', async () => {
        const created: string[] = [];
        for (let i = 0; i < 102; i++)
          created.push((await begin(STANDARD, { subject: `d${i % 9}` })).idHash);
        const ended = await begin(STANDARD, { subject: 'd0' });
        await store.revoke(ended.idHash, 'logout');
        const first = await store.list();
        expect(first.records).toHaveLength(100);
        expect(first.next).not.toBeNull();
        const second = await store.list({ cursor: first.next as string });
        expect(second.records).toHaveLength(2);
        expect(second.next).toBeNull();
        expect(hashes([...first.records, ...second.records]).sort()).toEqual(created.sort());
      });

      it('refuses a bad limit, state, filter, field or cursor with LAPSE_OPTION_INVALID naming it', async () => {
        await begin(STANDARD, { subject: 'u1' });
        await begin(STANDARD, { subject: 'u2' });
        for (const limit of [0, 1001, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, '10', null]) {
          await expectOptionError({ limit }, 'limit');
        }
        for (const state of ['bogus', 'LIVE', '', 1, null])
          await expectOptionError({ state }, 'state');
        await expectOptionError({ subject: 7 }, 'subject');
        await expectOptionError({ role: ['admin'] }, 'role');
        await expectOptionError({ rule: null }, 'rule');
        await expectOptionError({ cursor: 42 }, 'cursor');
        await expectOptionError({ subjects: 'u1' }, 'subjects');
        await expectOptionError('u1', 'query');
        await expectOptionError(null, 'query');
        const { next } = await store.list({ limit: 1 });
        expect(next).not.toBeNull();
        const real = next as string;
        // Garbage, the real cursor cut or padded, and the shapes other stores write.
        for (const cursor of [
          'garbage',
          '',
          ' ',
          `${real}x`,
          `x${real}`,
          `${real}==`,
          `${real}\n`,
          '4096:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          '-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          '01:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          '7:short',
          newIdHash(),
          'q.YWJj',
          'm.!!',
          's.%%',
        ]) {
          await expectOptionError({ cursor }, 'cursor');
        }
        // The cursor it gave is still good.
        expect((await store.list({ limit: 1, cursor: real })).records).toHaveLength(1);
      });

      it('never returns a record twice while sessions are created and ended during a walk', async () => {
        const before = await population();
        const untouched = new Set(hashes(before.filter((_, i) => i % 4 !== 0)));
        const seen: string[] = [];
        const createdDuring: string[] = [];
        let cursor: string | undefined;
        let round = 0;
        for (;;) {
          const page: SessionPage = await store.list({
            state: 'any',
            limit: 2,
            ...(cursor === undefined ? {} : { cursor }),
          });
          seen.push(...hashes(page.records));
          if (page.next === null) break;
          cursor = page.next;
          // Between pages: new sessions land before and after the cursor, some are ended.
          for (let i = 0; i < 3; i++) {
            createdDuring.push(
              (await begin(STANDARD, { subject: `user-${(round + i) % 7}` })).idHash,
            );
          }
          const victim = before[(round * 4) % before.length] as SessionRecord;
          if (!untouched.has(victim.idHash)) await store.revoke(victim.idHash, 'logout');
          await h.advance(SECOND);
          round++;
        }
        expect(new Set(seen).size).toBe(seen.length);
        for (const idHash of untouched) expect(seen).toContain(idHash);
        const known = new Set([...hashes(before), ...createdDuring]);
        for (const idHash of seen) expect(known.has(idHash)).toBe(true);
      });

      it('changes nothing: no write, no sweep, no event, and later decisions are as before', async () => {
        const expired: SessionRecord[] = [];
        const revoked: RevokeNotice[] = [];
        store.onExpire((record) => expired.push(record));
        store.onRevoke((notice) => revoked.push(notice));
        const live = await begin(IDLE_1M, { subject: 'q' });
        const due = await begin(IDLE_1M, { subject: 'q' });
        await h.advance(30 * SECOND);
        expectActive(await store.access(live.idHash, 'touch', IDLE_1M));
        await h.advance(30 * SECOND);
        const before = { live: await store.get(live.idHash), due: await store.get(due.idHash) };
        for (const state of ['live', 'ended', 'any'] as const) {
          await walk({ state, limit: 1 });
          await walk({ state, subject: 'q' });
        }
        expect(await store.get(live.idHash)).toEqual(before.live);
        expect(await store.get(due.idHash)).toEqual(before.due);
        expect(before.due?.endReason).toBeUndefined();
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(expired).toEqual([]);
        expect(revoked).toEqual([]);
        // The sweep still finds the due session to end, and tells of it: list did not.
        expect(hashes(await store.sweep())).toEqual([due.idHash]);
        expect(hashes(expired)).toEqual([due.idHash]);
        expectActive(await store.access(live.idHash, 'peek', IDLE_1M));
        await h.advance(30 * SECOND);
        expectEnded(await store.access(live.idHash, 'touch', IDLE_1M), 'idle');
      });

      it('rejects with LAPSE_STORE_UNAVAILABLE once the store is closed', async () => {
        await begin(STANDARD);
        await store.close();
        await expect(store.list()).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
      });
    });

    // Only stores that many instances share (SQLite on one file, Redis) register these.
    if (capabilities.shared === true)
      describe('shared store', () => {
        it('shows a revoke made through one instance to the other at once', async () => {
          const other = await secondInstance();
          const { idHash } = await begin(STANDARD);
          expectActive(await other.access(idHash, 'touch', STANDARD));
          await store.revoke(idHash, 'logout');
          expectEnded(await other.access(idHash, 'touch', STANDARD), 'revoked');
        });

        it('delivers a revocation made through one instance to the other within a second', async () => {
          const other = await secondInstance();
          const heard: RevokeNotice[] = [];
          other.onRevoke((notice) => heard.push(notice));
          const { idHash } = await begin(STANDARD, { subject: 'u9' });
          await store.revoke(idHash, 'admin');
          await vi.waitFor(
            () => expect(heard).toEqual([{ idHash, subject: 'u9', reason: 'admin' }]),
            {
              timeout: 1_000,
            },
          );
        });

        it('emits a due expiry exactly once across two sweeping instances', async () => {
          const other = await secondInstance();
          const heard: string[] = [];
          store.onExpire((record) => heard.push(record.idHash));
          other.onExpire((record) => heard.push(record.idHash));
          const { idHash } = await begin(IDLE_1M);
          await h.advance(MINUTE);
          const [mine, theirs] = await Promise.all([store.sweep(), other.sweep()]);
          expect([...mine, ...theirs].map((record) => record.idHash)).toEqual([idHash]);
          expect(heard).toEqual([idHash]);
        });
      });
  });
}
