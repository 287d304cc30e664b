/**
 * Line and column of what is in a policy file, always from the `yaml` nodes'
 * ranges, so every issue points at the text the author wrote.
 */
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { DocumentPath } from './document-path.js';

/** A 1-based line and column in the file. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/** The start of the file: where issues about the whole file are reported. */
export const START: Position = { line: 1, column: 1 };

function rangeStart(value: unknown): number | undefined {
  return isNode(value) && value.range ? value.range[0] : undefined;
}

/** A value node with no text of its own (`key:` and nothing): report at the key instead. */
function isEmptyValue(value: unknown): boolean {
  if (!isNode(value) || !value.range) return true;
  return isScalar(value) && value.value === null && value.range[0] === value.range[1];
}

/** Line and column of a character offset, never below 1:1. */
export function positionOf(lineCounter: LineCounter, offset: number): Position {
  const { line, col } = lineCounter.linePos(offset);
  return { line: Math.max(line, 1), column: Math.max(col, 1) };
}

/** Maps paths of the parsed document to line and column. */
export class SourcePositions {
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
  locate(path: DocumentPath, at: 'value' | 'key' = 'value'): Position {
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
