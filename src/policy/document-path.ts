import { quote } from './issue-messages.js';
import type { PolicyIssue } from './policy-load-error.js';

/**
 * Where a value is in a policy file: keys and list indexes from the top
 * (`['policy', 'rules', 0, 'idle']`), `[]` for the whole file. The same path
 * reaches into the parsed YAML document and into its plain-JS form.
 */
export type DocumentPath = PolicyIssue['path'];

/** `policy.rules[0].match.roles`; `the file` for the top level. */
export function pathLabel(path: DocumentPath): string {
  let label = '';
  for (const segment of path) {
    if (typeof segment === 'number') label += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) {
      label += label === '' ? segment : `.${segment}`;
    } else label += `[${quote(segment)}]`;
  }
  return label === '' ? 'the file' : label;
}
