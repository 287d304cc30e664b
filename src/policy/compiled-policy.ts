import { compilePassive, type PassivePredicate, type RequestProbe } from './passive.js';
import { matchesContext, matchesSession, resolveFromRules, sortRulesByName } from './resolve.js';
import type {
  EffectivePolicy,
  EnforcementContext,
  Policy,
  PolicyRule,
  SessionAttributes,
} from './types.js';

/** Distinct role/user-type combinations remembered per context before the cache starts over. */
const MAX_CACHED_RESOLUTIONS = 1_024;

/**
 * The policy as it applies in one context: rules whose environment and app
 * conditions hold, with resolutions memoised per role set and user type.
 * What a store needs to decide a session's deadlines inside its atomic step.
 */
export class ContextPolicy {
  /** Rules whose context-side conditions hold here, sorted by name. */
  readonly rules: readonly PolicyRule[];
  readonly #policy: Policy;
  readonly #cache = new Map<string, EffectivePolicy>();

  constructor(policy: Policy, context: EnforcementContext) {
    this.#policy = policy;
    this.rules = sortRulesByName(policy.rules).filter((rule) =>
      matchesContext(rule.match, context),
    );
  }

  /** The effective policy of a session with these attributes, here. */
  resolve(session: SessionAttributes): EffectivePolicy {
    const key = `${session.userType}\u0000${session.roles.join('\u0000')}`;
    let effective = this.#cache.get(key);
    if (effective === undefined) {
      effective = resolveFromRules(
        this.#policy,
        this.rules.filter((rule) => matchesSession(rule.match, session)),
      );
      if (this.#cache.size >= MAX_CACHED_RESOLUTIONS) this.#cache.clear();
      this.#cache.set(key, effective);
    }
    return effective;
  }
}

/**
 * A loaded policy prepared for enforcement: context policies cached, passive
 * matchers compiled. Immutable; a reload builds a new one.
 *
 * @example
 * import { CompiledPolicy, loadPolicyFile } from 'lapse';
 * const compiled = new CompiledPolicy(await loadPolicyFile('lapse.yaml'));
 * compiled.forContext({ environment: 'production' }).resolve({ roles: ['admin'], userType: 'human' });
 */
export class CompiledPolicy {
  readonly policy: Policy;
  readonly #isPassive: PassivePredicate;
  readonly #contexts = new Map<string, ContextPolicy>();

  constructor(policy: Policy) {
    this.policy = policy;
    this.#isPassive = compilePassive(policy.passive);
  }

  /** The policy as it applies in `context` (cached per environment and app). */
  forContext(context: EnforcementContext): ContextPolicy {
    const key = `${context.environment ?? ''}\u0000${context.app ?? ''}`;
    let contextPolicy = this.#contexts.get(key);
    if (contextPolicy === undefined) {
      contextPolicy = new ContextPolicy(this.policy, context);
      if (this.#contexts.size >= MAX_CACHED_RESOLUTIONS) this.#contexts.clear();
      this.#contexts.set(key, contextPolicy);
    }
    return contextPolicy;
  }

  /** Resolve a session's effective policy in a context. */
  resolve(session: SessionAttributes, context: EnforcementContext): EffectivePolicy {
    return this.forContext(context).resolve(session);
  }

  /** Whether the policy declares any passive traffic at all (lets callers skip building a probe). */
  get hasPassiveRules(): boolean {
    return this.policy.passive.length > 0;
  }

  /** Whether a request is passive traffic (checked, never activity). */
  isPassive(request: RequestProbe): boolean {
    return this.#isPassive(request);
  }
}
