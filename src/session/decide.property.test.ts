import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompiledPolicy } from '../policy/compiled-policy.js';
import type { Policy } from '../policy/types.js';
import { createRecord, decideAccess, decideRevoke, expireIfDue } from './decide.js';
import type { SessionRecord } from './types.js';

const RETAIN_MS = 60_000;

/** A policy with no rules: what the reference model below also knows. */
function flatPolicy(idleMs: number | null, absoluteMs: number, warnMs: number): Policy {
  return {
    version: 1,
    comply: [],
    defaults: { idleMs, absoluteMs, warnMs },
    ceilings: {},
    rules: [],
    passive: [],
  };
}

/** The reference model: one session, written from SPEC section 1 and 3 alone. */
class ReferenceSession {
  lastActivityAt: number;
  ended: 'idle' | 'absolute' | 'revoked' | undefined;

  constructor(
    readonly createdAt: number,
    readonly idleMs: number | null,
    readonly absoluteMs: number,
  ) {
    this.lastActivityAt = createdAt;
  }

  /** Returns 'active' or the reason it is over. */
  access(now: number, genuine: boolean): 'active' | 'idle' | 'absolute' | 'revoked' {
    if (this.ended !== undefined) return this.ended;
    const idleDeadline = this.idleMs === null ? Infinity : this.lastActivityAt + this.idleMs;
    const absoluteDeadline = this.createdAt + this.absoluteMs;
    if (now >= absoluteDeadline && absoluteDeadline <= idleDeadline) this.ended = 'absolute';
    else if (now >= idleDeadline) this.ended = 'idle';
    else if (now >= absoluteDeadline) this.ended = 'absolute';
    if (this.ended !== undefined) return this.ended;
    if (genuine) this.lastActivityAt = Math.max(this.lastActivityAt, now);
    return 'active';
  }

  revoke(now: number): void {
    if (this.access(now, false) === 'active') this.ended = 'revoked';
  }
}

type Step =
  | { kind: 'advance'; ms: number }
  | { kind: 'touch' }
  | { kind: 'peek' }
  | { kind: 'sweep' }
  | { kind: 'revoke' }
  | { kind: 'skew'; ms: number }
  | { kind: 'jump'; to: 'idle' | 'absolute'; offset: -1 | 0 | 1 };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.integer({ min: 0, max: 3_000 }).map((ms) => ({ kind: 'advance' as const, ms })),
  },
  { weight: 4, arbitrary: fc.constant({ kind: 'touch' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'peek' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'sweep' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'revoke' as const }) },
  // An instance whose clock runs behind: a "now" earlier than what was seen before.
  {
    weight: 1,
    arbitrary: fc.integer({ min: -2_000, max: -1 }).map((ms) => ({ kind: 'skew' as const, ms })),
  },
  // Land exactly on (or right beside) a deadline: where off-by-one bugs live.
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('jump' as const),
      to: fc.constantFrom('idle' as const, 'absolute' as const),
      offset: fc.constantFrom(-1 as const, 0 as const, 1 as const),
    }),
  },
);

const policyArb = fc.record({
  idleMs: fc.option(fc.integer({ min: 1, max: 5_000 }), { nil: null }),
  absoluteMs: fc.integer({ min: 1, max: 20_000 }),
  warnMs: fc.integer({ min: 0, max: 3_000 }),
});

describe('session decisions against a reference model', () => {
  it('agree with the model on every step of random traces', () => {
    fc.assert(
      fc.property(policyArb, fc.array(stepArb, { maxLength: 60 }), (p, steps) => {
        const resolver = new CompiledPolicy(
          flatPolicy(p.idleMs, p.absoluteMs, p.warnMs),
        ).forContext({});
        const start = 1_700_000_000_000;
        let now = start;
        let record: SessionRecord = createRecord('h', { subject: 's' }, resolver, now, RETAIN_MS);
        const model = new ReferenceSession(now, p.idleMs, p.absoluteMs);
        for (const step of steps) {
          if (step.kind === 'advance') {
            now += step.ms;
            continue;
          }
          if (step.kind === 'jump') {
            const target =
              step.to === 'absolute' || model.idleMs === null
                ? model.createdAt + model.absoluteMs
                : model.lastActivityAt + model.idleMs;
            now = Math.max(now, target + step.offset);
            continue;
          }
          const at = step.kind === 'skew' ? now + step.ms : now;
          if (step.kind === 'sweep') {
            record = expireIfDue(record, at, RETAIN_MS) ?? record;
            // A sweep only ends what a check at the same instant would end.
            if (record.endReason !== undefined && model.ended === undefined) {
              expect(model.access(at, false)).toBe(record.endReason);
            }
            continue;
          }
          if (step.kind === 'revoke') {
            const decision = decideRevoke(record, at, 'test', RETAIN_MS);
            record = decision.record;
            model.revoke(at);
            expect(record.endReason).toBe(model.ended);
            continue;
          }
          const genuine = step.kind !== 'peek';
          const before = record.lastActivityAt;
          const decision = decideAccess(
            record,
            resolver,
            at,
            genuine ? 'touch' : 'peek',
            RETAIN_MS,
          );
          const expected = model.access(at, genuine);
          if (decision.outcome === 'active') {
            expect(expected).toBe('active');
            // The invariant that matters most: nothing passes at or after a deadline.
            expect(at).toBeLessThan(record.createdAt + p.absoluteMs);
            if (p.idleMs !== null) expect(at).toBeLessThan(before + p.idleMs);
            if (decision.write !== undefined) record = decision.write;
            expect(record.lastActivityAt).toBeGreaterThanOrEqual(before);
            if (!genuine) expect(record.lastActivityAt).toBe(before);
            expect(decision.status.state).toBe(at >= decision.status.warnAt ? 'warning' : 'active');
          } else {
            expect(decision.reason).toBe(expected);
            record = decision.record;
          }
          expect(record.lastActivityAt).toBe(model.lastActivityAt);
          expect(record.purgeAt).toBeGreaterThan(0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never lets a check pass at or after the deadline of the context it runs in', () => {
    const contexts = ['production', 'staging', 'dev'];
    const rules = fc.uniqueArray(
      fc.record({
        name: fc.constantFrom('a', 'b', 'c', 'd'),
        environment: fc.constantFrom(...contexts),
        idleMs: fc.option(fc.integer({ min: 1, max: 4_000 }), { nil: null }),
        absoluteMs: fc.integer({ min: 1, max: 15_000 }),
      }),
      { selector: (rule) => rule.name, maxLength: 4 },
    );
    const events = fc.array(
      fc.record({
        advanceMs: fc.integer({ min: 0, max: 2_500 }),
        environment: fc.constantFrom(...contexts),
        genuine: fc.boolean(),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(rules, events, (ruleList, trace) => {
        const compiled = new CompiledPolicy({
          ...flatPolicy(3_000, 12_000, 500),
          rules: ruleList.map((rule) => ({
            name: rule.name,
            match: { environment: [rule.environment] },
            idleMs: rule.idleMs,
            absoluteMs: rule.absoluteMs,
          })),
        });
        let now = 0;
        let record = createRecord('h', { subject: 's' }, compiled.forContext({}), now, RETAIN_MS);
        for (const event of trace) {
          now += event.advanceMs;
          const context = compiled.forContext({ environment: event.environment });
          const effective = context.resolve(record);
          const before = record;
          const decision = decideAccess(
            record,
            context,
            now,
            event.genuine ? 'touch' : 'peek',
            RETAIN_MS,
          );
          if (decision.outcome === 'active') {
            expect(now).toBeLessThan(before.createdAt + effective.absoluteMs);
            expect(now).toBeLessThan(before.absoluteExpiresAt);
            if (effective.idleMs !== null)
              expect(now).toBeLessThan(before.lastActivityAt + effective.idleMs);
            if (before.idleExpiresAt !== null) expect(now).toBeLessThan(before.idleExpiresAt);
            // The absolute deadline never moves later.
            expect(decision.record.absoluteExpiresAt).toBeLessThanOrEqual(before.absoluteExpiresAt);
            record = decision.write ?? record;
          } else {
            record = decision.record;
            // Once ended, ended for good with the same reason.
            const again = decideAccess(record, context, now + 1, 'touch', RETAIN_MS);
            expect(again).toMatchObject({
              outcome: 'ended',
              reason: decision.reason,
              endedNow: false,
            });
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('decideAccess', () => {
  const resolver = new CompiledPolicy(flatPolicy(1_000, 10_000, 200)).forContext({});

  it('rejects a touch that arrives exactly at the idle deadline', () => {
    const record = createRecord('h', { subject: 's' }, resolver, 0, RETAIN_MS);
    expect(decideAccess(record, resolver, 999, 'peek', RETAIN_MS).outcome).toBe('active');
    const decision = decideAccess(record, resolver, 1_000, 'touch', RETAIN_MS);
    expect(decision).toMatchObject({ outcome: 'ended', reason: 'idle', endedNow: true });
    expect(decision.record.endedAt).toBe(1_000);
  });

  it('dates an expiry noticed late at the deadline itself', () => {
    const record = createRecord('h', { subject: 's' }, resolver, 0, RETAIN_MS);
    const decision = decideAccess(record, resolver, 5_000, 'touch', RETAIN_MS);
    expect(decision.record.endedAt).toBe(1_000);
  });

  it('reports absolute when both deadlines passed and absolute came first', () => {
    const record = {
      ...createRecord('h', { subject: 's' }, resolver, 0, RETAIN_MS),
      lastActivityAt: 9_500,
      idleExpiresAt: 10_500,
    };
    expect(decideAccess(record, resolver, 11_000, 'touch', RETAIN_MS)).toMatchObject({
      outcome: 'ended',
      reason: 'absolute',
    });
  });

  it('keeps a session created with a past auth time to its absolute deadline', () => {
    const record = createRecord('h', { subject: 's', createdAt: -9_900 }, resolver, 0, RETAIN_MS);
    expect(record.absoluteExpiresAt).toBe(100);
    expect(decideAccess(record, resolver, 100, 'touch', RETAIN_MS)).toMatchObject({
      outcome: 'ended',
      reason: 'absolute',
    });
  });
});
