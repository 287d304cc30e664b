import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompiledPolicy } from '../policy/compiled-policy.js';
import { ManualClock } from '../session/clock.js';
import type { EndReason, SessionRecord } from '../session/types.js';
import { MemoryStore } from './memory-store.js';

/** The timeouts of one context, as the model sees them. */
interface Timeouts {
  readonly idleMs: number | null;
  readonly absoluteMs: number;
}

function earlier(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/**
 * A small reference model of ONE session, written from SPEC section 3 and the
 * store contract, without `session/decide.ts`: deadlines are half-open; a
 * request is held to the earlier of its context's deadlines and those written
 * last (so a stricter context bites at once); a touch moves activity forward
 * only; an end is final with its first reason; a record is gone at purgeAt.
 */
class SessionModel {
  lastActivityAt: number;
  /** Deadlines as last written: what the sweep and revoke go by. */
  storedIdle: number | null;
  storedAbsolute: number;
  ended: { reason: EndReason; endedAt: number } | undefined;
  purged = false;

  constructor(
    readonly createdAt: number,
    created: Timeouts,
    readonly retainMs: number,
  ) {
    this.lastActivityAt = createdAt;
    this.storedIdle = created.idleMs === null ? null : createdAt + created.idleMs;
    this.storedAbsolute = createdAt + created.absoluteMs;
  }

  /** The deadlines a request in a context with `timeouts` is held to (no context: the stored ones). */
  deadlines(timeouts?: Timeouts): { idle: number | null; absolute: number } {
    if (timeouts === undefined) return { idle: this.storedIdle, absolute: this.storedAbsolute };
    const idleHere = timeouts.idleMs === null ? null : this.lastActivityAt + timeouts.idleMs;
    return {
      idle: earlier(idleHere, this.storedIdle),
      absolute: Math.min(this.createdAt + timeouts.absoluteMs, this.storedAbsolute),
    };
  }

  get purgeAt(): number {
    const end = this.ended === undefined ? this.storedAbsolute : this.ended.endedAt;
    return Math.max(this.storedAbsolute, end) + this.retainMs;
  }

  /** What any look at the store does first: a record past purgeAt is gone for good. */
  observe(now: number): void {
    if (!this.purged && now >= this.purgeAt) this.purged = true;
  }

  /** End a live session whose deadline has passed; the reason when this call ended it. */
  expireIfDue(now: number, timeouts?: Timeouts): 'idle' | 'absolute' | undefined {
    if (this.ended !== undefined) return undefined;
    const { idle, absolute } = this.deadlines(timeouts);
    const idlePassed = idle !== null && now >= idle;
    if (now >= absolute && (!idlePassed || absolute <= (idle as number))) {
      this.ended = { reason: 'absolute', endedAt: absolute };
      return 'absolute';
    }
    if (idlePassed) {
      this.ended = { reason: 'idle', endedAt: idle as number };
      return 'idle';
    }
    return undefined;
  }

  touch(now: number, timeouts: Timeouts): void {
    const { absolute } = this.deadlines(timeouts);
    this.lastActivityAt = Math.max(this.lastActivityAt, now);
    this.storedIdle = timeouts.idleMs === null ? null : this.lastActivityAt + timeouts.idleMs;
    this.storedAbsolute = absolute;
  }
}

type Step =
  | { readonly kind: 'advance'; readonly ms: number }
  | { readonly kind: 'touch' | 'peek'; readonly context: 'a' | 'b' }
  | { readonly kind: 'revoke' | 'sweep' };

const context = fc.constantFrom('a' as const, 'b' as const);

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 4_000 }),
    }),
  },
  // The clock may also step back a little (NTP): nothing may break.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: -1_500, max: -1 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('touch' as const), context }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('peek' as const), context }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'revoke' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'sweep' as const }) },
);

const timeoutsArbitrary: fc.Arbitrary<Timeouts> = fc.record({
  idleMs: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: null }),
  absoluteMs: fc.integer({ min: 1, max: 20_000 }),
});

const scenario = fc.record({
  start: fc.integer({ min: 0, max: 2_000_000_000_000 }),
  /** Two contexts with their own timeouts: the session starts in `a`. */
  a: timeoutsArbitrary,
  b: timeoutsArbitrary,
  retainMs: fc.integer({ min: 0, max: 10_000 }),
  bucketMs: fc.integer({ min: 1, max: 3_000 }),
  steps: fc.array(stepArbitrary, { maxLength: 60 }),
});

function resolverOf(timeouts: Timeouts) {
  return new CompiledPolicy({
    version: 1,
    comply: [],
    defaults: { idleMs: timeouts.idleMs, absoluteMs: timeouts.absoluteMs, warnMs: 0 },
    ceilings: {},
    rules: [],
    passive: [],
  }).forContext({});
}

describe('MemoryStore against a reference model of one session', () => {
  it('agrees with the model after every step of any trace', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ start, a, b, retainMs, bucketMs, steps }) => {
        const clock = new ManualClock(start);
        const store = new MemoryStore({
          clock,
          retainEndedMs: retainMs,
          bucketMs,
          sweepIntervalMs: 0,
        });
        const timeouts = { a, b };
        const resolvers = { a: resolverOf(a), b: resolverOf(b) };
        const model = new SessionModel(start, a, retainMs);
        const heard: string[] = [];
        store.onExpire((record) => heard.push(record.idHash));
        await store.create('s', { subject: 'u' }, resolvers.a);
        try {
          for (const step of steps) {
            const now = clock.now();
            switch (step.kind) {
              case 'advance':
                clock.advance(step.ms);
                break;
              case 'touch':
              case 'peek': {
                const here = timeouts[step.context];
                const before = await store.get('s');
                model.observe(now);
                const result = await store.access('s', step.kind, resolvers[step.context]);
                if (model.purged) {
                  expect(result.outcome).toBe('unknown');
                  break;
                }
                model.expireIfDue(now, here);
                if (model.ended !== undefined) {
                  expect(result).toMatchObject({ outcome: 'ended', reason: model.ended.reason });
                  break;
                }
                if (result.outcome !== 'active') {
                  throw new Error(`expected active, got ${result.outcome}`);
                }
                // No access passes at or after a deadline.
                const { idle, absolute } = model.deadlines(here);
                if (idle !== null) expect(now).toBeLessThan(idle);
                expect(now).toBeLessThan(absolute);
                if (step.kind === 'touch') {
                  model.touch(now, here);
                } else {
                  // A peek never moves lastActivityAt, nor writes anything.
                  expect(await store.get('s')).toEqual(before);
                }
                expect(result.record.lastActivityAt).toBe(model.lastActivityAt);
                break;
              }
              case 'revoke': {
                model.observe(now);
                const result = await store.revoke('s', 'logout');
                if (model.purged) {
                  expect(result.outcome).toBe('unknown');
                } else if (model.ended !== undefined) {
                  expect(result).toMatchObject({
                    outcome: 'already-ended',
                    reason: model.ended.reason,
                    endedNow: false,
                  });
                } else {
                  const due = model.expireIfDue(now);
                  if (due === undefined) {
                    model.ended = { reason: 'revoked', endedAt: now };
                    expect(result.outcome).toBe('ended');
                  } else {
                    expect(result).toMatchObject({
                      outcome: 'already-ended',
                      reason: due,
                      endedNow: true,
                    });
                  }
                }
                break;
              }
              case 'sweep': {
                const endsNow = !model.purged && model.expireIfDue(now) !== undefined;
                model.observe(now);
                const swept = await store.sweep();
                expect(swept.map((record) => record.idHash)).toEqual(endsNow ? ['s'] : []);
                break;
              }
            }
            // After every step the stored record is the model's.
            const nowAfter = clock.now();
            model.observe(nowAfter);
            const stored = await store.get('s');
            if (model.purged) {
              expect(stored).toBeUndefined();
            } else {
              expect(stored?.lastActivityAt).toBe(model.lastActivityAt);
              expect(stored?.endReason).toBe(model.ended?.reason);
              expect(stored?.endedAt).toBe(model.ended?.endedAt);
              expect(stored?.idleExpiresAt).toBe(model.storedIdle);
              expect(stored?.absoluteExpiresAt).toBe(model.storedAbsolute);
            }
          }
          // The sweep told the listeners exactly about the sessions it ended: at most this one, once.
          expect(heard.length).toBeLessThanOrEqual(1);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

/** One session of a random population, as the list property creates it. */
interface Planted {
  readonly idHash: string;
  readonly subject: string;
  readonly roles: string[];
  readonly idleMs: number | null;
  readonly absoluteMs: number;
  readonly isRevoked: boolean;
  /** How long after the one before it was created. */
  readonly gapMs: number;
}

/** Times in steps of 500 ms, so "now" often lands exactly on a deadline or a purgeAt. */
function steps(min: number, max: number): fc.Arbitrary<number> {
  return fc.integer({ min, max }).map((n) => n * 500);
}

const plantedArbitrary: fc.Arbitrary<Planted> = fc.record({
  idHash: fc.string({ maxLength: 6 }),
  subject: fc.constantFrom('a', 'b', 'c'),
  roles: fc.subarray(['admin', 'dev', 'ops']),
  idleMs: fc.option(steps(1, 10), { nil: null }),
  absoluteMs: steps(1, 40),
  isRevoked: fc.boolean(),
  gapMs: steps(0, 4),
});

const listScenario = fc.record({
  sessions: fc.uniqueArray(plantedArbitrary, {
    selector: (planted) => planted.idHash,
    maxLength: 40,
  }),
  retainMs: steps(0, 10),
  laterMs: steps(0, 60),
  limit: fc.integer({ min: 1, max: 12 }),
  query: fc.record(
    {
      subject: fc.constantFrom('a', 'b', 'c', 'z'),
      role: fc.constantFrom('admin', 'dev', 'ops'),
      rule: fc.constantFrom('defaults', 'admins'),
      state: fc.constantFrom('live' as const, 'ended' as const, 'any' as const),
    },
    { requiredKeys: [] },
  ),
});

describe('MemoryStore list against a filter over every record', () => {
  it('pages through exactly the matching records, in idHash order, for any sessions and page size', async () => {
    await fc.assert(
      fc.asyncProperty(listScenario, async ({ sessions, retainMs, laterMs, limit, query }) => {
        const clock = new ManualClock(1_000_000);
        const store = new MemoryStore({ clock, retainEndedMs: retainMs, sweepIntervalMs: 0 });
        try {
          const created: SessionRecord[] = [];
          for (const planted of sessions) {
            clock.advance(planted.gapMs);
            // Admins get their idle timeout from a rule: their records carry rule 'admins'.
            const policy = new CompiledPolicy({
              version: 1,
              comply: [],
              defaults: { idleMs: planted.idleMs, absoluteMs: planted.absoluteMs, warnMs: 0 },
              ceilings: {},
              rules: [{ name: 'admins', match: { roles: ['admin'] }, idleMs: 1_500 }],
              passive: [],
            }).forContext({});
            const draft = { subject: planted.subject, roles: planted.roles };
            const result = await store.create(planted.idHash, draft, policy);
            created.push(result.record);
            if (planted.isRevoked) {
              const revoked = await store.revoke(planted.idHash, 'logout');
              if (revoked.outcome !== 'unknown') created[created.length - 1] = revoked.record;
            }
          }
          clock.advance(laterMs);
          const now = clock.now();
          // The contract, from the record's fields alone.
          const expected = created
            .filter((record) => record.purgeAt > now)
            .filter((record) => query.subject === undefined || record.subject === query.subject)
            .filter((record) => query.role === undefined || record.roles.includes(query.role))
            .filter((record) => query.rule === undefined || record.rule === query.rule)
            .filter((record) => {
              const isLive =
                record.endReason === undefined &&
                now < record.absoluteExpiresAt &&
                (record.idleExpiresAt === null || now < record.idleExpiresAt);
              const state = query.state ?? 'live';
              return state === 'any' || isLive === (state === 'live');
            })
            .sort((x, y) => (x.idHash < y.idHash ? -1 : 1));
          const held = store.stats().records;
          const pages = [];
          let cursor: string | undefined;
          do {
            // A cursor that does not move on would loop forever: fail instead.
            if (pages.length > created.length) throw new Error('list kept returning a next page');
            const page = await store.list({
              ...query,
              limit,
              ...(cursor === undefined ? {} : { cursor }),
            });
            expect(page.now).toBe(now);
            expect(page.records.length).toBeLessThanOrEqual(limit);
            if (page.next !== null) expect(page.records).toHaveLength(limit);
            pages.push(page);
            cursor = page.next ?? undefined;
          } while (cursor !== undefined);
          expect(pages.flatMap((page) => page.records)).toEqual(expected);
          expect(pages).toHaveLength(Math.max(1, Math.ceil(expected.length / limit)));
          // Read-only: nothing past purgeAt was forgotten on the way.
          expect(store.stats().records).toBe(held);
        } finally {
          await store.close();
        }
      }),
      { numRuns: 500 },
    );
  });
});
