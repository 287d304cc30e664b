import { open } from 'node:fs/promises';
import {
  type Alias,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  type Pair,
  parseDocument,
  visit,
  type YAMLError,
  type YAMLMap,
} from 'yaml';
import type { z } from 'zod';
import { type ErrorCode, ErrorCodes, FileUnreadableError } from '../errors.js';
import { formatDuration, parseDuration, parseIdleDuration } from './duration.js';
import { type PolicyIssue, PolicyLoadError } from './policy-load-error.js';
import {
  EMPTY_MATCH_MESSAGE,
  knownKeysAt,
  LAPSE_CODE_PARAM,
  type PolicyFileData,
  policyFileSchema,
} from './policy-schema.js';
import { computeCeilings, isCompliancePresetId, type PolicyLimits } from './presets.js';
import type { Policy } from './types.js';

/** The largest policy file lapse reads: 1 MiB. A policy is a page of YAML, not a data set. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * The most alias expansions `yaml` performs per anchor before giving up, so an
 * "exponential entity expansion" (billion laughs) file fails fast.
 */
const MAX_ALIAS_COUNT = 100;

type Path = readonly (string | number)[];
type ZodIssue = z.core.$ZodIssue;

interface Position {
  readonly line: number;
  readonly column: number;
}

const START: Position = { line: 1, column: 1 };

// ---------------------------------------------------------------------------
// Small helpers for untrusted values.

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `path` in the plain-JS form of the file, own properties only. */
function valueAt(root: unknown, path: Path): unknown {
  let value = root;
  for (const segment of path) {
    if (Array.isArray(value) && typeof segment === 'number') {
      value = value[segment];
    } else if (isRecord(value) && Object.hasOwn(value, String(segment))) {
      value = value[String(segment)];
    } else {
      return undefined;
    }
  }
  return value;
}

/** A string for a message: quoted, and cut short so one bad value cannot flood the output. */
function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** `policy.rules[0].match.roles`; `the file` for the top level. */
function pathLabel(path: Path): string {
  let label = '';
  for (const segment of path) {
    if (typeof segment === 'number') label += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(segment)) {
      label += label === '' ? segment : `.${segment}`;
    } else label += `[${quote(segment)}]`;
  }
  return label === '' ? 'the file' : label;
}

/** One line, whatever a library put in the message. */
function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function suggestion(key: string, known: readonly string[]): string | undefined {
  if (key.length > 40) return undefined;
  const lower = key.toLowerCase();
  return known.find(
    (candidate) => candidate.toLowerCase() === lower || editDistance(key, candidate) <= 2,
  );
}

function utf8Length(text: string): number {
  // Cheap bounds first: every UTF-16 unit is 1 to 3 UTF-8 bytes.
  if (text.length * 3 <= MAX_POLICY_BYTES) return text.length;
  return new TextEncoder().encode(text).byteLength;
}

// ---------------------------------------------------------------------------
// Positions: always from the yaml nodes' ranges.

function rangeStart(value: unknown): number | undefined {
  return isNode(value) && value.range ? value.range[0] : undefined;
}

/** A value node with no text of its own (`key:` and nothing): report at the key instead. */
function isEmptyValue(value: unknown): boolean {
  if (!isNode(value) || !value.range) return true;
  return isScalar(value) && value.value === null && value.range[0] === value.range[1];
}

function positionOf(lineCounter: LineCounter, offset: number): Position {
  const { line, col } = lineCounter.linePos(offset);
  return { line: Math.max(line, 1), column: Math.max(col, 1) };
}

/** Maps paths of the parsed document to line and column. */
class SourcePositions {
  readonly #doc: Document.Parsed;
  readonly #lineCounter: LineCounter;
  readonly #aliasTargets: ReadonlyMap<Alias, Node>;
  readonly #pairIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(
    doc: Document.Parsed,
    lineCounter: LineCounter,
    aliasTargets: ReadonlyMap<Alias, Node>,
  ) {
    this.#doc = doc;
    this.#lineCounter = lineCounter;
    this.#aliasTargets = aliasTargets;
  }

  /** Line and column of a character offset. */
  at(offset: number): Position {
    return positionOf(this.#lineCounter, offset);
  }

  /** The position of a node, if it has one. */
  ofNode(node: unknown): Position | undefined {
    const offset = rangeStart(node);
    return offset === undefined ? undefined : this.at(offset);
  }

  /**
   * Where the value at `path` is (`at: 'key'`: where its key is). A path that
   * does not exist in the file resolves to its nearest existing ancestor.
   */
  locate(path: Path, at: 'value' | 'key' = 'value'): Position {
    let node: unknown = this.#doc.contents;
    let found = rangeStart(node);
    for (let index = 0; index < path.length; index++) {
      const container = this.#resolve(node);
      const segment = path[index];
      if (isMap(container)) {
        const pair = this.#pairs(container).get(String(segment));
        if (pair === undefined) break;
        const isLast = index === path.length - 1;
        if (isLast && at === 'key' && rangeStart(pair.key) !== undefined) {
          found = rangeStart(pair.key);
          break;
        }
        node = isEmptyValue(pair.value) ? pair.key : pair.value;
      } else if (isSeq(container) && typeof segment === 'number') {
        node = container.items[segment];
        if (node === undefined) break;
      } else {
        break;
      }
      found = rangeStart(node) ?? found;
    }
    return found === undefined ? START : this.at(found);
  }

  #resolve(node: unknown): unknown {
    return isAlias(node) ? (this.#aliasTargets.get(node) ?? node) : node;
  }

  /** Pairs of a mapping by key, built once per mapping so many issues stay cheap. */
  #pairs(map: YAMLMap): Map<string, Pair> {
    let index = this.#pairIndexes.get(map);
    if (index === undefined) {
      index = new Map();
      for (const pair of map.items) {
        if (isScalar(pair.key)) {
          const key = String(pair.key.value);
          if (!index.has(key)) index.set(key, pair);
        }
      }
      this.#pairIndexes.set(map, index);
    }
    return index;
  }
}

// ---------------------------------------------------------------------------
// Issues.

class IssueList {
  readonly #file: string;
  readonly #issues: PolicyIssue[] = [];

  constructor(file: string) {
    this.#file = file;
  }

  add(
    code: ErrorCode,
    message: string,
    path: Path,
    position: Position,
    requirement?: string,
  ): void {
    this.#issues.push({
      code,
      message: oneLine(message),
      file: this.#file,
      line: position.line,
      column: position.column,
      path: Object.freeze([...path]),
      ...(requirement === undefined ? {} : { requirement }),
    });
  }

  /**
   * Throw every issue so far as one {@link PolicyLoadError}, in position order
   * (stable for issues at one position), duplicates dropped. Nothing when clean.
   */
  throwIfAny(): void {
    const seen = new Set<string>();
    const [first, ...rest] = [...this.#issues]
      .sort((a, b) => a.line - b.line || a.column - b.column)
      .filter((issue) => {
        const key = `${issue.line}:${issue.column}:${issue.code}:${issue.message}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    if (first !== undefined) throw new PolicyLoadError([first, ...rest]);
  }

  /** Stop here: throw the issues so far (a phase that cannot go on has added at least one). */
  fail(): never {
    this.throwIfAny();
    throw new Error('lapse: internal error: a policy failed to load without an issue');
  }
}

// ---------------------------------------------------------------------------
// zod issues -> policy issues.

/** A rule's `match`: missing or null is an empty match, not a missing key. */
function isRuleMatchPath(path: Path): boolean {
  return (
    path.length === 4 &&
    path[0] === 'policy' &&
    path[1] === 'rules' &&
    typeof path[2] === 'number' &&
    path[3] === 'match'
  );
}

/** The expected type of an `invalid_type` issue, as a person says it. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

/**
 * The fallback phrase for zod issues a schema did not word itself. Schema
 * messages win over this one, so it only covers what the schema leaves out.
 */
function fallbackMessage(issue: z.core.$ZodRawIssue): string {
  if (issue.code === 'invalid_type') {
    return `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
  }
  return 'is not valid here';
}

const KNOWN_CODES: ReadonlySet<unknown> = new Set(Object.values(ErrorCodes));

function isErrorCode(value: unknown): value is ErrorCode {
  return KNOWN_CODES.has(value);
}

/** The lapse code a schema check attached to its issue, if any. */
function lapseCodeOf(issue: ZodIssue): ErrorCode | undefined {
  if (issue.code !== 'custom') return undefined;
  const code: unknown = issue.params?.[LAPSE_CODE_PARAM];
  return isErrorCode(code) ? code : undefined;
}

/**
 * Of a failed union, the one branch whose type matched (the value was a list,
 * and an item of it was wrong): its issues say more than "wrong type".
 */
function matchedBranch(
  branches: readonly (readonly ZodIssue[])[],
): readonly ZodIssue[] | undefined {
  const matched = branches.filter(
    (issues) =>
      !issues.some(
        (issue) =>
          issue.path.length === 0 &&
          (issue.code === 'invalid_type' || issue.code === 'invalid_union'),
      ),
  );
  return matched.length === 1 ? matched[0] : undefined;
}

const SHOW_RECEIVED = new Set(['invalid_type', 'invalid_union', 'invalid_format', 'invalid_value']);

class ZodIssueMapper {
  readonly #raw: unknown;
  readonly #positions: SourcePositions;
  readonly #issues: IssueList;

  constructor(raw: unknown, positions: SourcePositions, issues: IssueList) {
    this.#raw = raw;
    this.#positions = positions;
    this.#issues = issues;
  }

  map(issue: ZodIssue, base: Path = []): void {
    const path: Path = [
      ...base,
      ...issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment))),
    ];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) this.#unknownKey(path, key);
      return;
    }
    if (this.#missing(path)) return;
    switch (issue.code) {
      case 'invalid_union': {
        const branch = matchedBranch(issue.errors);
        if (branch !== undefined) {
          for (const inner of branch) this.map(inner, path);
          return;
        }
        break;
      }
      case 'invalid_key': {
        const key = path.at(-1);
        const detail = issue.issues[0]?.message ?? 'is not allowed';
        this.#issues.add(
          ErrorCodes.POLICY_BAD_VALUE,
          `${pathLabel(path.slice(0, -1))}: ${quote(String(key))} ${detail}`,
          path,
          this.#positions.locate(path, 'key'),
        );
        return;
      }
      case 'custom':
        this.#issues.add(
          lapseCodeOf(issue) ?? ErrorCodes.POLICY_BAD_VALUE,
          `${pathLabel(path)}: ${issue.message}`,
          path,
          this.#positions.locate(path),
        );
        return;
      default:
        break;
    }
    const value = valueAt(this.#raw, path);
    if (isRuleMatchPath(path) && value === null) {
      this.#issues.add(
        ErrorCodes.POLICY_EMPTY_MATCH,
        `${pathLabel(path)} is empty: ${EMPTY_MATCH_MESSAGE}`,
        path,
        this.#positions.locate(path),
      );
      return;
    }
    const received = SHOW_RECEIVED.has(issue.code) ? `, got ${describeValue(value)}` : '';
    this.#issues.add(
      ErrorCodes.POLICY_BAD_VALUE,
      `${pathLabel(path)} ${issue.message}${received}`,
      path,
      this.#positions.locate(path),
    );
  }

  /** A required key that is not there: reported at the mapping that should hold it. */
  #missing(path: Path): boolean {
    const key = path.at(-1);
    if (key === undefined) return false;
    const parentPath = path.slice(0, -1);
    const parent = valueAt(this.#raw, parentPath);
    if (!isRecord(parent) || Object.hasOwn(parent, String(key))) return false;
    if (isRuleMatchPath(path)) {
      this.#issues.add(
        ErrorCodes.POLICY_EMPTY_MATCH,
        `${pathLabel(parentPath)} has no match: ${EMPTY_MATCH_MESSAGE}`,
        path,
        this.#positions.locate(parentPath),
      );
    } else {
      this.#issues.add(
        ErrorCodes.POLICY_MISSING_KEY,
        `${pathLabel(parentPath)} is missing the required key ${quote(String(key))}`,
        path,
        this.#positions.locate(parentPath),
      );
    }
    return true;
  }

  #unknownKey(path: Path, key: string): void {
    const known = knownKeysAt(path) ?? [];
    const where = path.length === 0 ? 'at the top level' : `in ${pathLabel(path)}`;
    const guess = suggestion(key, known);
    const hint = guess === undefined ? '' : `; did you mean ${quote(guess)}?`;
    const allowed = known.length === 0 ? '' : ` (allowed: ${known.join(', ')})`;
    this.#issues.add(
      ErrorCodes.POLICY_UNKNOWN_KEY,
      `unknown key ${quote(key)} ${where}${hint}${allowed}`,
      [...path, key],
      this.#positions.locate([...path, key], 'key'),
    );
  }
}

// ---------------------------------------------------------------------------
// Checks across values, on the plain-JS file so they run even when other
// parts of the file are wrong (every issue is reported at once).

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

function checkLimits(
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

  const check = (owner: string, path: Path, setting: 'idle' | 'absolute', value: unknown): void => {
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

function checkDuplicateRules(
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

// ---------------------------------------------------------------------------
// The document.

/** What one walk over the document finds. */
interface DocumentIndex {
  /** Every resolvable alias and the node it stands for. */
  readonly aliasTargets: Map<Alias, Node>;
  /** Aliases with no anchor before them. */
  readonly unresolvedAliases: Alias[];
  readonly firstAlias: Alias | undefined;
  /** The second (third, ...) occurrence of a key in one mapping. */
  readonly duplicateKeys: Pair[];
}

/**
 * One linear walk: resolve every alias once, so positions never search the
 * document, and find keys given twice in one mapping. (The `yaml` package can
 * check keys itself, but compares every key with every other: a 1 MiB file of
 * keys takes minutes.) Keys compare as the loader sees them, as strings, so
 * `1` and `"1"` are duplicates too.
 */
function indexDocument(doc: Document.Parsed): DocumentIndex {
  const anchors = new Map<string, Node>();
  const aliasTargets = new Map<Alias, Node>();
  const unresolvedAliases: Alias[] = [];
  const duplicateKeys: Pair[] = [];
  let firstAlias: Alias | undefined;
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      firstAlias ??= node;
      const target = anchors.get(node.source);
      if (target === undefined) unresolvedAliases.push(node);
      else aliasTargets.set(node, target);
      return;
    }
    if ((isScalar(node) || isCollection(node)) && node.anchor !== undefined) {
      anchors.set(node.anchor, node);
    }
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (seen.has(key)) duplicateKeys.push(pair);
        seen.add(key);
      }
    }
  });
  return { aliasTargets, unresolvedAliases, firstAlias, duplicateKeys };
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

function tooLarge(file: string, bytes: string): PolicyLoadError {
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

interface ParsedSource {
  readonly doc: Document.Parsed;
  readonly positions: SourcePositions;
  readonly firstAlias: Alias | undefined;
}

/** Parse the text as one YAML document; syntax problems are issues. */
function parseSource(source: string, issues: IssueList): ParsedSource {
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
function plainData(
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
  if (bytes > MAX_POLICY_BYTES) throw tooLarge(file, `${bytes} bytes`);
  // Editors do not count a byte-order mark as a column.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const issues = new IssueList(file);
  const parsed = parseSource(source, issues);
  const raw = plainData(parsed, issues);
  return toPolicy(validate(raw, parsed.positions, issues));
}

/** Read at most `max` bytes; `undefined` when the file is larger. */
async function readBounded(path: string, max: number): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) return undefined;
      chunks.push(buffer.slice(0, bytesRead));
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return new TextDecoder().decode(bytes);
  } finally {
    await handle.close();
  }
}

/**
 * Read and load a policy file. An unreadable file (missing, a directory, no
 * permission) throws a `FileUnreadableError`; a file that is not a valid
 * policy throws a {@link PolicyLoadError} naming `path` as given.
 *
 * @example
 * import { loadPolicyFile } from 'lapse';
 * const policy = await loadPolicyFile('lapse.yaml');
 */
export async function loadPolicyFile(path: string): Promise<Policy> {
  let text: string | undefined;
  try {
    text = await readBounded(path, MAX_POLICY_BYTES);
  } catch (error) {
    throw new FileUnreadableError(path, error);
  }
  if (text === undefined) throw tooLarge(path, `more than ${MAX_POLICY_BYTES} bytes`);
  return loadPolicy(text, path);
}
