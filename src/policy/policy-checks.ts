/**
 * Checks across values: timeouts above a limit, rule names given twice. They
 * run on the plain-JS file, not on the schema's output, so they report even
 * when other parts of the file are wrong (every issue is reported at once).
 */
import { ErrorCodes } from '../errors.js';
import type { DocumentPath } from './document-path.js';
import { formatDuration, parseDuration, parseIdleDuration } from './duration.js';
import type { IssueList } from './issue-list.js';
import { quote } from './issue-messages.js';
import { isRecord } from './plain-data.js';
import { computeCeilings, isCompliancePresetId, type PolicyLimits } from './presets.js';
import type { SourcePositions } from './source-positions.js';

function tryDuration(value: unknown, idle: boolean): number | null | undefined {
  try {
    return idle ? parseIdleDuration(value) : parseDuration(value);
  } catch {
    return undefined; // reported by the schema
  }
}

function positiveMs(value: unknown): number | undefined {
  const ms = tryDuration(value, false);
  return typeof ms === 'number' && ms > 0 ? ms : undefined;
}

function complyIds(value: unknown): string[] {
  const ids = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
  return ids.filter(isCompliancePresetId);
}

/**
 * Every default and rule `idle` / `absolute` above its ceiling (from `limits`
 * and `comply` together) is an issue naming the limit and who set it.
 */
export function checkLimits(
  policy: Record<string, unknown>,
  positions: SourcePositions,
  issues: IssueList,
): void {
  const limitsValue = isRecord(policy.limits) ? policy.limits : {};
  const idleLimit = positiveMs(limitsValue.idle);
  const absoluteLimit = positiveMs(limitsValue.absolute);
  const limits: PolicyLimits = {
    ...(idleLimit === undefined ? {} : { idleMs: idleLimit }),
    ...(absoluteLimit === undefined ? {} : { absoluteMs: absoluteLimit }),
  };
  const ceilings = computeCeilings(limits, complyIds(policy.comply));

  const check = (
    owner: string,
    path: DocumentPath,
    setting: 'idle' | 'absolute',
    value: unknown,
  ): void => {
    const ceiling = ceilings[setting];
    if (ceiling === undefined || value === undefined) return;
    const ms = tryDuration(value, setting === 'idle');
    if (ms === undefined || (ms !== null && ms <= ceiling.ms)) return;
    const shown = ms === null ? 'off (no idle timeout)' : formatDuration(ms);
    const source =
      ceiling.requirement === undefined
        ? `limits.${setting}`
        : `${ceiling.source} (${ceiling.requirement})`;
    issues.add(
      ErrorCodes.POLICY_ABOVE_LIMIT,
      `${owner} ${setting} ${shown} is above the ${setting} limit of ${formatDuration(ceiling.ms)} set by ${source}`,
      path,
      positions.locate(path),
      ceiling.requirement,
    );
  };

  if (isRecord(policy.defaults)) {
    for (const setting of ['idle', 'absolute'] as const) {
      check('defaults', ['policy', 'defaults', setting], setting, policy.defaults[setting]);
    }
  }
  if (Array.isArray(policy.rules)) {
    policy.rules.forEach((rule: unknown, index) => {
      if (!isRecord(rule)) return;
      const owner =
        typeof rule.name === 'string' && rule.name !== ''
          ? `rule ${quote(rule.name)}`
          : `policy.rules[${index}]`;
      for (const setting of ['idle', 'absolute'] as const) {
        check(owner, ['policy', 'rules', index, setting], setting, rule[setting]);
      }
    });
  }
}

/** Every rule that reuses an earlier rule's name is an issue naming the line of the first. */
export function checkDuplicateRules(
  policy: Record<string, unknown>,
  positions: SourcePositions,
  issues: IssueList,
): void {
  if (!Array.isArray(policy.rules)) return;
  const firstIndex = new Map<string, number>();
  policy.rules.forEach((rule: unknown, index) => {
    if (!isRecord(rule) || typeof rule.name !== 'string' || rule.name === '') return;
    const first = firstIndex.get(rule.name);
    if (first === undefined) {
      firstIndex.set(rule.name, index);
      return;
    }
    const path = ['policy', 'rules', index, 'name'];
    const firstLine = positions.locate(['policy', 'rules', first, 'name']).line;
    issues.add(
      ErrorCodes.POLICY_DUPLICATE_RULE,
      `duplicate rule name ${quote(rule.name)}, first used on line ${firstLine}: rule names must be unique`,
      path,
      positions.locate(path),
    );
  });
}
