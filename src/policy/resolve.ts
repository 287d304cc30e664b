import type {
  EffectivePolicy,
  EnforcementContext,
  Policy,
  PolicyRule,
  RuleMatch,
  SessionAttributes,
} from './types.js';

/** The value source reported when no applying rule set a value. */
export const DEFAULTS_SOURCE = 'defaults';

function anyOf(wanted: readonly string[] | undefined, actual: string | undefined): boolean {
  return wanted === undefined || (actual !== undefined && wanted.includes(actual));
}

/** Whether the context-side conditions of a rule (environment, app) hold. */
export function matchesContext(match: RuleMatch, context: EnforcementContext): boolean {
  return anyOf(match.environment, context.environment) && anyOf(match.app, context.app);
}

/** Whether the session-side conditions of a rule (roles, userType) hold. */
export function matchesSession(match: RuleMatch, session: SessionAttributes): boolean {
  if (match.roles !== undefined && !match.roles.some((role) => session.roles.includes(role))) {
    return false;
  }
  return anyOf(match.userType, session.userType);
}

/** Idle is stricter when smaller; `null` (off) is the least strict of all. */
function stricterIdle(candidate: number | null, current: number | null): boolean {
  if (candidate === null) return false;
  return current === null || candidate < current;
}

/**
 * Resolve timeouts from rules already known to apply. `rules` must be sorted by
 * name, so that ties go to the first name and rule order in the file never matters.
 */
export function resolveFromRules(
  policy: Pick<Policy, 'defaults'>,
  applying: readonly PolicyRule[],
): EffectivePolicy {
  let idle: { ms: number | null; rule: PolicyRule } | undefined;
  let absolute: { ms: number; rule: PolicyRule } | undefined;
  let warn: { ms: number; rule: PolicyRule } | undefined;
  for (const rule of applying) {
    if (rule.idleMs !== undefined && (idle === undefined || stricterIdle(rule.idleMs, idle.ms))) {
      idle = { ms: rule.idleMs, rule };
    }
    if (
      rule.absoluteMs !== undefined &&
      (absolute === undefined || rule.absoluteMs < absolute.ms)
    ) {
      absolute = { ms: rule.absoluteMs, rule };
    }
    if (rule.warnMs !== undefined && (warn === undefined || rule.warnMs > warn.ms)) {
      warn = { ms: rule.warnMs, rule };
    }
  }
  const { defaults } = policy;
  const idleMs = idle === undefined ? defaults.idleMs : idle.ms;
  const absoluteMs = absolute === undefined ? defaults.absoluteMs : absolute.ms;
  const warnRequestedMs = warn === undefined ? defaults.warnMs : warn.ms;
  // The warning must leave time to be useful: at most half the shortest timeout.
  const warnCeiling = Math.floor(Math.min(idleMs ?? Number.POSITIVE_INFINITY, absoluteMs) / 2);
  const warnClamped = warnRequestedMs > warnCeiling;
  const message =
    [idle?.rule, absolute?.rule, warn?.rule].find((rule) => rule?.message !== undefined)?.message ??
    applying.find((rule) => rule.message !== undefined)?.message;
  return {
    idleMs,
    absoluteMs,
    warnMs: warnClamped ? warnCeiling : warnRequestedMs,
    warnRequestedMs,
    warnClamped,
    from: {
      idle: idle?.rule.name ?? DEFAULTS_SOURCE,
      absolute: absolute?.rule.name ?? DEFAULTS_SOURCE,
      warn: warn?.rule.name ?? DEFAULTS_SOURCE,
    },
    matched: applying.map((rule) => rule.name),
    ...(message === undefined ? {} : { message }),
  };
}

/** Rules sorted by name: the canonical order resolution works in. */
export function sortRulesByName(rules: readonly PolicyRule[]): PolicyRule[] {
  return [...rules].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Resolve the effective policy of a session in a context (SPEC section 2):
 * every rule whose `match` holds applies; per setting the strictest applying
 * value wins (smallest idle and absolute, largest warn); unset settings come
 * from `defaults`; warn is clamped to half the shortest timeout. Rule order
 * never matters. Pure.
 *
 * @example
 * import { loadPolicy, resolvePolicy } from 'lapse';
 * const policy = loadPolicy(text, 'lapse.yaml');
 * resolvePolicy(policy, { roles: ['admin'], userType: 'human' }, { environment: 'production' }).idleMs;
 */
export function resolvePolicy(
  policy: Policy,
  session: SessionAttributes,
  context: EnforcementContext,
): EffectivePolicy {
  const applying = sortRulesByName(policy.rules).filter(
    (rule) => matchesContext(rule.match, context) && matchesSession(rule.match, session),
  );
  return resolveFromRules(policy, applying);
}
