import { type ErrorCode, ErrorCodes, LapseError } from '../errors.js';

/** One problem found while loading a policy file, positioned in the file. */
export interface PolicyIssue {
  /** Stable issue code (`LAPSE_POLICY_UNKNOWN_KEY`, ...); see `ErrorCodes`. */
  readonly code: ErrorCode;
  /** What is wrong and what is allowed, for a person. One line. */
  readonly message: string;
  /** The file as it was given to the loader. */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Where in the document the issue is: `['policy', 'rules', 0, 'idle']`; `[]` for the whole file. */
  readonly path: readonly (string | number)[];
  /** The published requirement a value breaks, when a `comply` preset set the limit. */
  readonly requirement?: string;
}

/**
 * Format an issue the way compilers do: `file:line:column: message`.
 *
 * @example
 * import { formatPolicyIssue } from 'lapse';
 * formatPolicyIssue(issue); // 'lapse.yaml:3:9: policy.defaults.idle: invalid duration "15x": ...'
 */
export function formatPolicyIssue(issue: PolicyIssue): string {
  return `${issue.file}:${issue.line}:${issue.column}: ${issue.message}`;
}

/**
 * A policy file could not be loaded. `issues` holds every problem found, in
 * position order; `file`, `line` and `column` are those of the first one, and
 * `message` lists them all, one `file:line:column: message` a line.
 *
 * @example
 * import { loadPolicy, PolicyLoadError } from 'lapse';
 * try { loadPolicy(text, 'lapse.yaml'); }
 * catch (error) { if (error instanceof PolicyLoadError) for (const issue of error.issues) console.error(issue.code); }
 */
export class PolicyLoadError extends LapseError {
  /** Every issue, sorted by line, then column. Never empty. */
  readonly issues: readonly PolicyIssue[];
  readonly file: string;
  readonly line: number;
  readonly column: number;

  constructor(issues: readonly [PolicyIssue, ...PolicyIssue[]]) {
    super(ErrorCodes.POLICY_INVALID, issues.map(formatPolicyIssue).join('\n'));
    const [first] = issues;
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
  }
}
