/**
 * Text in, frozen `Policy` out, or one `PolicyLoadError` with every issue:
 * parse the YAML, read it as plain data, validate it with `policyFileSchema`
 * and the cross-value checks. Pure: reading a file is `loadPolicyFile`'s job.
 */
import {
  type Alias,
  type Document,
  isScalar,
  LineCounter,
  parseDocument,
  type YAMLError,
} from 'yaml';
import { ErrorCodes } from '../errors.js';
import { type DocumentIndex, indexDocument } from './document-index.js';
import { IssueList } from './issue-list.js';
import { describeValue, quote } from './issue-messages.js';
import { isRecord } from './plain-data.js';
import { checkDuplicateRules, checkLimits } from './policy-checks.js';
import { PolicyLoadError } from './policy-load-error.js';
import { type PolicyFileData, policyFileSchema } from './policy-schema.js';
import { computeCeilings } from './presets.js';
import { positionOf, SourcePositions, START } from './source-positions.js';
import type { Policy } from './types.js';
import { fallbackMessage, ZodIssueMapper } from './zod-issue-mapper.js';

/** The largest policy file lapse reads: 1 MiB. A policy is a page of YAML, not a data set. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * The most alias expansions `yaml` performs per anchor before giving up, so an
 * "exponential entity expansion" (billion laughs) file fails fast.
 */
const MAX_ALIAS_COUNT = 100;

/** The size of `text` in UTF-8 bytes, exact when it could be over {@link MAX_POLICY_BYTES}. */
export function utf8Length(text: string): number {
  // Cheap bounds first: every UTF-16 unit is 1 to 3 UTF-8 bytes.
  if (text.length * 3 <= MAX_POLICY_BYTES) return text.length;
  return new TextEncoder().encode(text).byteLength;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const entry of Object.values(value)) deepFreeze(entry);
  }
  return value;
}

function toPolicy(data: PolicyFileData): Policy {
  const { policy } = data;
  const comply = policy.comply ?? [];
  return deepFreeze({
    version: 1,
    comply,
    defaults: policy.defaults,
    ceilings: computeCeilings(policy.limits ?? {}, comply),
    rules: policy.rules ?? [],
    passive: policy.passive ?? [],
  });
}

/** The parser's messages, reworded where they speak to programmers rather than to the file's author. */
function syntaxMessage(error: YAMLError): string {
  if (error.code === 'MULTIPLE_DOCS') {
    return 'the file holds more than one YAML document (a second ---); a policy file is one document';
  }
  return `YAML syntax: ${error.message}`;
}

/**
 * The error for a file over {@link MAX_POLICY_BYTES}, at 1:1; `bytes` says how
 * large it is (`2097154 bytes`, or `more than 1048576 bytes` when reading stopped early).
 */
export function policyTooLargeError(file: string, bytes: string): PolicyLoadError {
  return new PolicyLoadError([
    {
      code: ErrorCodes.POLICY_BAD_VALUE,
      message: `the file is larger than 1 MiB (${bytes}); a policy file is a page of settings, not data`,
      file,
      line: 1,
      column: 1,
      path: [],
    },
  ]);
}

/** A parsed file: the document, where its nodes are, and its first alias. */
export interface ParsedSource {
  readonly doc: Document.Parsed;
  readonly positions: SourcePositions;
  readonly firstAlias: Alias | undefined;
}

/** Parse the text as one YAML document; syntax problems are issues. */
export function parseSource(source: string, issues: IssueList): ParsedSource {
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(source, {
      lineCounter,
      prettyErrors: false,
      // Duplicate keys are found by `indexDocument`, in linear time.
      uniqueKeys: false,
      // Problems reach the author as issues, never as process warnings.
      logLevel: 'error',
    });
  } catch (error) {
    issues.add(ErrorCodes.POLICY_SYNTAX, `the file cannot be parsed: ${String(error)}`, [], START);
    return issues.fail();
  }
  for (const error of doc.errors) {
    const position = positionOf(lineCounter, error.pos[0]);
    issues.add(ErrorCodes.POLICY_SYNTAX, syntaxMessage(error), [], position);
  }
  issues.throwIfAny();

  let index: DocumentIndex;
  try {
    index = indexDocument(doc);
  } catch {
    issues.add(ErrorCodes.POLICY_BAD_VALUE, 'the file is nested too deeply', [], START);
    return issues.fail();
  }
  const positions = new SourcePositions(doc, lineCounter, index.aliasTargets);
  for (const pair of index.duplicateKeys) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    issues.add(
      ErrorCodes.POLICY_SYNTAX,
      `duplicate key ${quote(key)}: a key may appear only once in a mapping`,
      [],
      positions.ofNode(pair.key) ?? START,
    );
  }
  for (const alias of index.unresolvedAliases) {
    issues.add(
      ErrorCodes.POLICY_SYNTAX,
      `alias *${alias.source} refers to no anchor &${alias.source} before it`,
      [],
      positions.ofNode(alias) ?? START,
    );
  }
  issues.throwIfAny();
  return { doc, positions, firstAlias: index.firstAlias };
}

const NEEDS = 'it needs version: 1 and a policy with defaults (idle, absolute)';

/** The document as plain data, if it is a mapping at all. */
export function plainData(
  { doc, positions, firstAlias }: ParsedSource,
  issues: IssueList,
): Record<string, unknown> {
  if (doc.contents === null) {
    issues.add(ErrorCodes.POLICY_EMPTY, `the file is empty: ${NEEDS}`, [], START);
    return issues.fail();
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const isExpansion = error instanceof ReferenceError && /alias/i.test(error.message);
    issues.add(
      ErrorCodes.POLICY_BAD_VALUE,
      isExpansion
        ? 'the file expands aliases too many times (a resource-exhaustion pattern); write the values out'
        : `the file cannot be read as data: ${error instanceof Error ? error.message : String(error)}`,
      [],
      (isExpansion ? positions.ofNode(firstAlias) : undefined) ?? START,
    );
    return issues.fail();
  }
  const top = positions.locate([]);
  if (raw === null || raw === undefined) {
    issues.add(ErrorCodes.POLICY_EMPTY, `the file holds no policy: ${NEEDS}`, [], top);
    return issues.fail();
  }
  if (!isRecord(raw)) {
    issues.add(
      ErrorCodes.POLICY_BAD_VALUE,
      `the file must be a mapping with the keys version and policy, got ${describeValue(raw)}`,
      [],
      top,
    );
    return issues.fail();
  }
  return raw;
}

/** Validate the data; the parsed file, or every issue thrown. */
function validate(
  raw: Record<string, unknown>,
  positions: SourcePositions,
  issues: IssueList,
): PolicyFileData {
  const policy = Object.hasOwn(raw, 'policy') ? raw.policy : undefined;
  const isPolicyEmpty =
    policy === undefined ||
    policy === null ||
    (isRecord(policy) && Object.keys(policy).length === 0);
  if (policy === undefined) {
    issues.add(
      ErrorCodes.POLICY_EMPTY,
      'the file has no policy: add a policy section with defaults (idle, absolute)',
      ['policy'],
      positions.locate([]),
    );
  } else if (isPolicyEmpty) {
    issues.add(
      ErrorCodes.POLICY_EMPTY,
      'policy is empty: it needs at least defaults (idle, absolute)',
      ['policy'],
      positions.locate(['policy']),
    );
  }

  const parsed = policyFileSchema.safeParse(raw, { error: fallbackMessage });
  if (!parsed.success) {
    const mapper = new ZodIssueMapper(raw, positions, issues);
    for (const issue of parsed.error.issues) {
      // An empty policy is one issue, not one per missing key.
      if (isPolicyEmpty && issue.path[0] === 'policy') continue;
      mapper.map(issue);
    }
  }
  if (isRecord(policy)) {
    checkDuplicateRules(policy, positions, issues);
    checkLimits(policy, positions, issues);
  }
  issues.throwIfAny();
  return parsed.success ? parsed.data : issues.fail();
}

/**
 * Load a policy from the text of a policy file (YAML, or JSON, which is YAML
 * 1.2). Every problem is collected, sorted by position and thrown as one
 * {@link PolicyLoadError} whose message lists `file:line:column: message` a
 * line. The returned policy is frozen: durations in ms, `idle: off` as
 * `idleMs: null`, settings a rule leaves unset absent, ceilings from `limits`
 * and `comply` together.
 *
 * @param file how to name the file in issues (the path as given).
 * @example
 * import { loadPolicy } from 'lapse';
 * const policy = loadPolicy('version: 1\npolicy:\n  defaults: { idle: 15m, absolute: 8h }\n', 'lapse.yaml');
 * policy.defaults.idleMs; // 900000
 */
export function loadPolicy(text: string, file: string): Policy {
  const bytes = utf8Length(text);
  if (bytes > MAX_POLICY_BYTES) throw policyTooLargeError(file, `${bytes} bytes`);
  // Editors do not count a byte-order mark as a column.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const issues = new IssueList(file);
  const parsed = parseSource(source, issues);
  const raw = plainData(parsed, issues);
  return toPolicy(validate(raw, parsed.positions, issues));
}
