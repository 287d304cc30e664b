import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompiledPolicy } from './compiled-policy.js';
import { DEFAULTS_SOURCE, resolvePolicy } from './resolve.js';
import type { EnforcementContext, Policy, PolicyRule, SessionAttributes } from './types.js';

const ROLES = ['admin', 'dev', 'ops', 'viewer'];
const USER_TYPES = ['human', 'service'];
const ENVIRONMENTS = ['production', 'staging'];
const APPS = ['billing', 'wiki'];

const listOf = (values: string[]) =>
  fc.option(
    fc.uniqueArray(fc.constantFrom(...values), { minLength: 1, maxLength: values.length }),
    {
      nil: undefined,
    },
  );

const ruleArb = (name: string): fc.Arbitrary<PolicyRule> =>
  fc
    .record({
      roles: listOf(ROLES),
      userType: listOf(USER_TYPES),
      environment: listOf(ENVIRONMENTS),
      app: listOf(APPS),
      idleMs: fc.option(fc.option(fc.integer({ min: 1, max: 100 }), { nil: null }), {
        nil: undefined,
      }),
      absoluteMs: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
      warnMs: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
      message: fc.option(fc.constantFrom('m1', 'm2'), { nil: undefined }),
    })
    .map((r) => {
      const match = Object.fromEntries(
        Object.entries({
          roles: r.roles,
          userType: r.userType,
          environment: r.environment,
          app: r.app,
        }).filter(([, value]) => value !== undefined),
      );
      const rule: Record<string, unknown> = { name, match };
      if (r.idleMs !== undefined) rule.idleMs = r.idleMs;
      if (r.absoluteMs !== undefined) rule.absoluteMs = r.absoluteMs;
      if (r.warnMs !== undefined) rule.warnMs = r.warnMs;
      if (r.message !== undefined) rule.message = r.message;
      return rule as unknown as PolicyRule;
    });

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    idleMs: fc.option(fc.integer({ min: 1, max: 100 }), { nil: null }),
    absoluteMs: fc.integer({ min: 1, max: 200 }),
    warnMs: fc.integer({ min: 0, max: 100 }),
    ruleCount: fc.integer({ min: 0, max: 6 }),
  })
  .chain((d) =>
    fc
      .tuple(...Array.from({ length: d.ruleCount }, (_, i) => ruleArb(`rule-${i}`)))
      .map((rules) => ({
        version: 1 as const,
        comply: [],
        defaults: { idleMs: d.idleMs, absoluteMs: d.absoluteMs, warnMs: d.warnMs },
        ceilings: {},
        rules,
        passive: [],
      })),
  );

const sessionArb: fc.Arbitrary<SessionAttributes> = fc.record({
  roles: fc.uniqueArray(fc.constantFrom(...ROLES), { maxLength: 3 }),
  userType: fc.constantFrom(...USER_TYPES),
});

const contextArb: fc.Arbitrary<EnforcementContext> = fc
  .record({
    environment: fc.option(fc.constantFrom(...ENVIRONMENTS), { nil: undefined }),
    app: fc.option(fc.constantFrom(...APPS), { nil: undefined }),
  })
  .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));

/** Whether a rule applies, written straight from SPEC section 2. */
function applies(rule: PolicyRule, s: SessionAttributes, c: EnforcementContext): boolean {
  const m = rule.match;
  return (
    (m.roles === undefined || m.roles.some((role) => s.roles.includes(role))) &&
    (m.userType === undefined || m.userType.includes(s.userType)) &&
    (m.environment === undefined ||
      (c.environment !== undefined && m.environment.includes(c.environment))) &&
    (m.app === undefined || (c.app !== undefined && m.app.includes(c.app)))
  );
}

describe('policy resolution properties', () => {
  it('does not depend on the order of rules', () => {
    fc.assert(
      fc.property(
        policyArb.chain((p) =>
          fc.tuple(
            fc.constant(p),
            fc.shuffledSubarray([...p.rules], { minLength: p.rules.length }),
          ),
        ),
        sessionArb,
        contextArb,
        ([policy, shuffled], session, context) => {
          expect(resolvePolicy({ ...policy, rules: shuffled }, session, context)).toEqual(
            resolvePolicy(policy, session, context),
          );
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('takes the strictest value of every applying rule, and defaults for the rest', () => {
    fc.assert(
      fc.property(policyArb, sessionArb, contextArb, (policy, session, context) => {
        const applying = policy.rules.filter((rule) => applies(rule, session, context));
        const effective = resolvePolicy(policy, session, context);

        const idles = applying
          .filter((r) => r.idleMs !== undefined)
          .map((r) => r.idleMs ?? Infinity);
        const expectedIdle = idles.length === 0 ? policy.defaults.idleMs : Math.min(...idles);
        expect(effective.idleMs ?? Infinity).toBe(expectedIdle ?? Infinity);

        const absolutes = applying.flatMap((r) =>
          r.absoluteMs === undefined ? [] : [r.absoluteMs],
        );
        expect(effective.absoluteMs).toBe(
          absolutes.length === 0 ? policy.defaults.absoluteMs : Math.min(...absolutes),
        );

        const warns = applying.flatMap((r) => (r.warnMs === undefined ? [] : [r.warnMs]));
        const requested = warns.length === 0 ? policy.defaults.warnMs : Math.max(...warns);
        const ceiling = Math.floor(
          Math.min(effective.idleMs ?? Infinity, effective.absoluteMs) / 2,
        );
        expect(effective.warnRequestedMs).toBe(requested);
        expect(effective.warnMs).toBe(Math.min(requested, ceiling));
        expect(effective.warnClamped).toBe(requested > ceiling);

        // Every "from" names an applying rule that holds the value, or defaults when none set it.
        const byName = new Map(applying.map((r) => [r.name, r]));
        if (idles.length === 0) expect(effective.from.idle).toBe(DEFAULTS_SOURCE);
        else expect(byName.get(effective.from.idle)?.idleMs ?? null).toBe(effective.idleMs);
        if (absolutes.length === 0) expect(effective.from.absolute).toBe(DEFAULTS_SOURCE);
        else expect(byName.get(effective.from.absolute)?.absoluteMs).toBe(effective.absoluteMs);
        if (warns.length === 0) expect(effective.from.warn).toBe(DEFAULTS_SOURCE);
        else expect(byName.get(effective.from.warn)?.warnMs).toBe(requested);
        expect([...effective.matched].sort()).toEqual(applying.map((r) => r.name).sort());
      }),
      { numRuns: 2_000 },
    );
  });

  it('never resolves looser than a rule that applies', () => {
    fc.assert(
      fc.property(policyArb, sessionArb, contextArb, (policy, session, context) => {
        const effective = resolvePolicy(policy, session, context);
        for (const rule of policy.rules.filter((r) => applies(r, session, context))) {
          if (typeof rule.idleMs === 'number') expect(effective.idleMs).not.toBeNull();
          if (typeof rule.idleMs === 'number')
            expect(effective.idleMs as number).toBeLessThanOrEqual(rule.idleMs);
          if (rule.absoluteMs !== undefined)
            expect(effective.absoluteMs).toBeLessThanOrEqual(rule.absoluteMs);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('resolves the same through the compiled, cached path', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.tuple(sessionArb, contextArb), { maxLength: 10 }),
        (policy, lookups) => {
          const compiled = new CompiledPolicy(policy);
          for (const [session, context] of lookups) {
            expect(compiled.resolve(session, context)).toEqual(
              resolvePolicy(policy, session, context),
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
