import { ContextPolicy } from '../../policy/compiled-policy.js';
import type { PolicyRule } from '../../policy/types.js';
import type { PolicyResolver } from '../../session/decide.js';
import { encodeItem, encodeRule, encodeUserType, ITEM } from './record-codec.js';

/*
 * What the access script needs to resolve a session's idle and absolute
 * timeouts inside Redis, as ARGV entries (Redis splits them, so Lua parses
 * nothing):
 *
 *   default idle ('-' off), default absolute,
 *   then per rule, in name order: name, roles, userTypes, idle, absolute
 *
 * Conditions: '' = none; otherwise '+' then the encoded items, each between
 * "\x1e" separators ('+' alone: an empty list, which never holds). Idle: ''
 * not set by the rule, '-' off, else ms. Absolute: '' not set, else ms.
 * Only session-side conditions appear: a ContextPolicy's rules already hold
 * in its context. Rules that set neither idle nor absolute are left out (warn
 * and message are decided in JS, from the same ContextPolicy).
 */

/** A user type no policy uses: resolving it applies only the rules without session-side conditions. */
const NO_SUCH_USER_TYPE = '\u0000lapse: no user type\u0000';

const tables = new WeakMap<ContextPolicy, readonly string[]>();

function condition(list: readonly string[] | undefined, encode: (item: string) => string): string {
  if (list === undefined) return '';
  if (list.length === 0) return '+';
  let out = `+${ITEM}`;
  for (const item of list) out += encode(item) + ITEM;
  return out;
}

function ruleEntries(rule: PolicyRule): string[] {
  return [
    encodeRule(rule.name),
    condition(rule.match.roles, encodeItem),
    condition(rule.match.userType, encodeUserType),
    rule.idleMs === undefined ? '' : rule.idleMs === null ? '-' : String(rule.idleMs),
    rule.absoluteMs === undefined ? '' : String(rule.absoluteMs),
  ];
}

function encodeTable(policy: ContextPolicy): readonly string[] {
  // The defaults are private to the policy; resolving a session that no
  // conditional rule matches yields them wherever no unconditional rule sets a
  // value. Where one does, every session gets that rule, so Lua never falls
  // back to the default and its value here does not matter.
  const base = policy.resolve({ roles: [], userType: NO_SUCH_USER_TYPE });
  const table = [base.idleMs === null ? '-' : String(base.idleMs), String(base.absoluteMs)];
  for (const rule of policy.rules) {
    if (rule.idleMs === undefined && rule.absoluteMs === undefined) continue;
    table.push(...ruleEntries(rule));
  }
  return Object.freeze(table);
}

/**
 * The policy table of `policy`, cached per ContextPolicy; `undefined` for any
 * other resolver (the store then decides in JS with an optimistic write).
 */
export function policyTableOf(policy: PolicyResolver): readonly string[] | undefined {
  if (!(policy instanceof ContextPolicy)) return undefined;
  let table = tables.get(policy);
  if (table === undefined) {
    table = encodeTable(policy);
    tables.set(policy, table);
  }
  return table;
}
