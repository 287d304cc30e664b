/**
 * Issue messages quote what the author wrote, which is what makes them useful;
 * but a secret written on a broken line can end up where a message quotes it:
 * in the text `yaml` shows of a token it could not place, or in a key (a
 * line that lost its ":" is one key holding the value). `redacted` takes those
 * out, for the policy's issues and the gateway sections' alike.
 */
import { ErrorCodes } from '../../errors.js';
import { pathLabel } from '../../policy/document-path.js';
import type { PolicyIssue } from '../../policy/policy-load-error.js';

/**
 * A key that can be quoted in a message: a short name. A longer one, or one
 * with spaces or quotes, may be a secret (the shortest admin token is 16
 * characters), unless it is a near miss of a known key (`did you mean`).
 */
const SHORT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** What stands for a key that is not shown, in an issue's `path`. */
export const HIDDEN_SEGMENT = '[not shown]';

const HIDDEN_KEY = 'not shown in case it holds a secret (is a ":" missing after a key?)';

/**
 * Syntax messages in which `yaml` quotes the text it could not place (`Unexpected
 * double-quoted-scalar token in YAML stream: "..."`, `Invalid escape sequence
 * \\q...`): the phrase is kept, the text dropped, since it may be a secret
 * written on a broken line. The position still points at it.
 */
const SYNTAX_WITH_TEXT =
  /^(YAML syntax: (?:Unexpected [\w-]+ token in YAML (?:stream|document)|Unexpected block-seq-ind on same line with key|Not a YAML token|Block scalar header includes extra characters|Invalid escape sequence))[\s:].*$/s;

/** `alias *name refers to no anchor &name before it`: the name may be a value that lost its quote. */
const UNRESOLVED_ALIAS = /^alias \*.* refers to no anchor &.* before it$/s;

const DUPLICATE_KEY = /^duplicate key ("(?:[^"\\]|\\.)*")(: .*)$/s;

function isShownKey(key: string, message: string): boolean {
  return SHORT_NAME.test(key) || (NAME.test(key) && message.includes('; did you mean'));
}

function isShownQuotedKey(quoted: string): boolean {
  try {
    return SHORT_NAME.test(String(JSON.parse(quoted)));
  } catch {
    return false;
  }
}

/**
 * The issue without text that may be a secret written in the wrong place:
 * the text `yaml` quotes from a broken line, an alias name (a value that lost
 * its opening quote after `*`), and a key that could be a secret
 * (`{ token "..." }`, a line that lost its ":", is one key holding the value).
 * Every other message is left as the loaders wrote it.
 */
export function redacted(issue: PolicyIssue): PolicyIssue {
  let message = issue.message;
  if (issue.code === ErrorCodes.POLICY_SYNTAX) {
    message = message
      .replace(SYNTAX_WITH_TEXT, '$1')
      .replace(
        UNRESOLVED_ALIAS,
        'an alias (*name) refers to no anchor (&name) before it; is a quote missing?',
      )
      .replace(DUPLICATE_KEY, (whole, quoted: string, rest: string) =>
        isShownQuotedKey(quoted) ? whole : `duplicate key, ${HIDDEN_KEY}${rest}`,
      );
  } else if (issue.code === ErrorCodes.POLICY_UNKNOWN_KEY) {
    const key = issue.path.at(-1);
    if (typeof key === 'string' && !isShownKey(key, message)) {
      const parent = issue.path.slice(0, -1);
      const where = parent.length === 0 ? 'at the top level' : `in ${pathLabel(parent)}`;
      const allowed = / \(allowed: [^()]*\)$/.exec(message)?.[0] ?? '';
      message = `unknown key ${where}, ${HIDDEN_KEY}${allowed}`;
      return { ...issue, message, path: Object.freeze([...parent, HIDDEN_SEGMENT]) };
    }
  }
  return message === issue.message ? issue : { ...issue, message };
}
