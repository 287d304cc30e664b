import picomatch from 'picomatch';
import type { PassiveRule } from './types.js';

/** What passive matching needs to know of a request, framework-neutral. */
export interface RequestProbe {
  /** HTTP method, any case. */
  readonly method: string;
  /** The path without query string. */
  readonly path: string;
  /** A header's value by lower-case name, or `undefined`. */
  getHeader(name: string): string | undefined;
}

/** Decides whether a request is passive: checked, but not activity. */
export type PassivePredicate = (request: RequestProbe) => boolean;

function compileRule(rule: PassiveRule): PassivePredicate {
  const methods = rule.methods;
  const pathMatchers = rule.paths?.map((glob) => picomatch(glob, { dot: true }));
  const headers = rule.headers === undefined ? undefined : Object.entries(rule.headers);
  return (request) => {
    if (methods !== undefined && !methods.includes(request.method.toUpperCase())) return false;
    if (pathMatchers !== undefined && !pathMatchers.some((matches) => matches(request.path))) {
      return false;
    }
    if (headers !== undefined) {
      for (const [name, value] of headers) {
        if (request.getHeader(name) !== value) return false;
      }
    }
    return true;
  };
}

/**
 * Compile the policy's `passive` list into one predicate: a request is passive
 * when any entry matches it (all keys of that entry hold).
 *
 * @example
 * import { compilePassive } from 'lapse';
 * const isPassive = compilePassive(policy.passive);
 * isPassive({ method: 'GET', path: '/api/notifications/1', getHeader: () => undefined });
 */
export function compilePassive(rules: readonly PassiveRule[]): PassivePredicate {
  const predicates = rules.map(compileRule);
  if (predicates.length === 0) return () => false;
  return (request) => predicates.some((isPassive) => isPassive(request));
}
