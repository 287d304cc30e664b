import type { ErrorCode } from '../errors.js';
import type { DocumentPath } from './document-path.js';
import { oneLine } from './issue-messages.js';
import { type PolicyIssue, PolicyLoadError } from './policy-load-error.js';
import type { Position } from './source-positions.js';

/**
 * The issues found while loading one policy file. Every phase adds what it
 * finds and goes on where it can, so the author sees every problem at once.
 */
export class IssueList {
  readonly #file: string;
  readonly #issues: PolicyIssue[] = [];

  /** @param file how to name the file in issues (the path as given). */
  constructor(file: string) {
    this.#file = file;
  }

  /** Record one issue at `position`; `requirement` names the published rule a value breaks. */
  add(
    code: ErrorCode,
    message: string,
    path: DocumentPath,
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
