/**
 * The loaded, validated policy: durations in milliseconds, every default filled.
 * Produced by `loadPolicy`; consumed by `resolvePolicy` and `CompiledPolicy`.
 */

/** Conditions of a rule; every key given must hold, a list holds if any element does. */
export interface RuleMatch {
  /** Holds when the session has any of these roles. */
  readonly roles?: readonly string[];
  /** Holds when the session's user type is one of these. */
  readonly userType?: readonly string[];
  /** Holds when the enforcement context's environment is one of these. */
  readonly environment?: readonly string[];
  /** Holds when the enforcement context's app (or route name) is one of these. */
  readonly app?: readonly string[];
}

/** One named rule. A setting left `undefined` is not set by the rule; `idleMs: null` is `idle: off`. */
export interface PolicyRule {
  readonly name: string;
  readonly match: RuleMatch;
  readonly idleMs?: number | null;
  readonly absoluteMs?: number;
  readonly warnMs?: number;
  readonly message?: string;
}

/** A ceiling no default or rule may exceed, and who imposed it. */
export interface Ceiling {
  readonly ms: number;
  /** `limits` for the file's own limits, else the preset id (`pci-dss-4`). */
  readonly source: string;
  /** The published requirement behind a preset ceiling (`PCI DSS v4.0 req. 8.2.8`). */
  readonly requirement?: string;
}

/** Traffic that is checked but is not activity: every key given must hold. */
export interface PassiveRule {
  /** Upper-case HTTP methods, any of. */
  readonly methods?: readonly string[];
  /** Path globs (`*` within a segment, `**` across segments), any of. */
  readonly paths?: readonly string[];
  /** Header name (lower case) to exact value; all must hold. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A validated policy. */
export interface Policy {
  readonly version: 1;
  /** Compliance presets in force (`pci-dss-4`, `nist-800-63b-4:aal2`, ...). */
  readonly comply: readonly string[];
  readonly defaults: {
    readonly idleMs: number | null;
    readonly absoluteMs: number;
    readonly warnMs: number;
  };
  /** The strictest ceiling per setting, from `limits` and `comply` together. */
  readonly ceilings: {
    readonly idle?: Ceiling;
    readonly absolute?: Ceiling;
  };
  readonly rules: readonly PolicyRule[];
  readonly passive: readonly PassiveRule[];
}

/** Who the session belongs to, as far as policy resolution cares. */
export interface SessionAttributes {
  readonly roles: readonly string[];
  readonly userType: string;
}

/** Where a request is enforced. */
export interface EnforcementContext {
  /** `production`, `staging`, ... */
  readonly environment?: string;
  /** The app or route name. */
  readonly app?: string;
}

/** Where a resolved value came from: a rule name, or `defaults`. */
export type ValueSource = string;

/** The timeouts that apply to one session in one context, and why. */
export interface EffectivePolicy {
  /** Idle timeout in ms; `null` when idle is `off`. */
  readonly idleMs: number | null;
  readonly absoluteMs: number;
  /** Warning period in ms, after clamping. */
  readonly warnMs: number;
  /** Which rule (or `defaults`) set each value. */
  readonly from: {
    readonly idle: ValueSource;
    readonly absolute: ValueSource;
    readonly warn: ValueSource;
  };
  /** True when `warn` was clamped to half the shortest timeout. */
  readonly warnClamped: boolean;
  /** Warn before clamping. */
  readonly warnRequestedMs: number;
  /** Names of every rule that applied, sorted. */
  readonly matched: readonly string[];
  /** The message to show the person, from the deciding rule, if any. */
  readonly message?: string;
}
