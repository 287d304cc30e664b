/**
 * zod issues -> policy issues: each issue of `policyFileSchema` becomes one
 * issue a person can act on, with the key's path, the value found and, for an
 * unknown key, the key probably meant, positioned where the author wrote it.
 */
import type { z } from 'zod';
import { type ErrorCode, ErrorCodes } from '../errors.js';
import { type DocumentPath, pathLabel } from './document-path.js';
import type { IssueList } from './issue-list.js';
import { describeValue, quote, suggestion } from './issue-messages.js';
import { isRecord, valueAt } from './plain-data.js';
import { EMPTY_MATCH_MESSAGE, knownKeysAt, LAPSE_CODE_PARAM } from './policy-schema.js';
import type { SourcePositions } from './source-positions.js';

type ZodIssue = z.core.$ZodIssue;

/** A rule's `match`: missing or null is an empty match, not a missing key. */
function isRuleMatchPath(path: DocumentPath): boolean {
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
export function fallbackMessage(issue: z.core.$ZodRawIssue): string {
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

/** The keys the mapping at a path may hold, or `undefined` if the path is not a known section. */
export type KnownKeys = (path: readonly PropertyKey[]) => readonly string[] | undefined;

/**
 * Turns the issues of one failed `policyFileSchema` parse into policy issues.
 * `raw` is the plain-JS file that was parsed: issues quote the values in it.
 * `knownKeys` names the keys an unknown key is compared with (default: the
 * policy format's); a schema of other sections of the file passes its own.
 */
export class ZodIssueMapper {
  readonly #raw: unknown;
  readonly #positions: SourcePositions;
  readonly #issues: IssueList;
  readonly #knownKeys: KnownKeys;

  constructor(
    raw: unknown,
    positions: SourcePositions,
    issues: IssueList,
    knownKeys: KnownKeys = knownKeysAt,
  ) {
    this.#raw = raw;
    this.#positions = positions;
    this.#issues = issues;
    this.#knownKeys = knownKeys;
  }

  /**
   * Add the policy issue(s) for one zod issue. `base` is the path its own path
   * is relative to (the issues of a union branch are relative to the union).
   */
  map(issue: ZodIssue, base: DocumentPath = []): void {
    const path: DocumentPath = [
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
  #missing(path: DocumentPath): boolean {
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

  #unknownKey(path: DocumentPath, key: string): void {
    const known = this.#knownKeys(path) ?? [];
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
