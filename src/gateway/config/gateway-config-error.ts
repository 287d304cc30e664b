import { ErrorCodes, LapseError } from '../../errors.js';
import { formatPolicyIssue, type PolicyIssue } from '../../policy/policy-load-error.js';

/**
 * A `lapse.yaml` could not be loaded as a gateway config. `issues` holds every
 * problem found, in the policy and in the gateway sections alike, in position
 * order; `file`, `line` and `column` are those of the first one, and `message`
 * lists them all, one `file:line:column: message` a line. Policy issues are
 * those `loadPolicy` reports (less any text that may hold a secret); no
 * message ever holds a secret.
 *
 * @example
 * import { GatewayConfigError, loadGatewayConfigFile } from 'lapse/gateway';
 * try { await loadGatewayConfigFile('lapse.yaml'); }
 * catch (error) { if (error instanceof GatewayConfigError) for (const issue of error.issues) console.error(issue.code); }
 */
export class GatewayConfigError extends LapseError {
  /** Every issue, sorted by line, then column. Never empty. */
  readonly issues: readonly PolicyIssue[];
  readonly file: string;
  readonly line: number;
  readonly column: number;

  constructor(issues: readonly [PolicyIssue, ...PolicyIssue[]]) {
    super(ErrorCodes.CONFIG_INVALID, issues.map(formatPolicyIssue).join('\n'));
    const [first] = issues;
    this.issues = Object.freeze(issues.map((issue) => Object.freeze({ ...issue })));
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
  }
}
