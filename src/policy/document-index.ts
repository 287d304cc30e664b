import {
  type Alias,
  type Document,
  isAlias,
  isCollection,
  isMap,
  isScalar,
  type Node,
  type Pair,
  visit,
} from 'yaml';

/** What one walk over the document finds. */
export interface DocumentIndex {
  /** Every resolvable alias and the node it stands for. */
  readonly aliasTargets: Map<Alias, Node>;
  /** Aliases with no anchor before them. */
  readonly unresolvedAliases: Alias[];
  /** The first alias in the document, where an alias-expansion failure is reported. */
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
export function indexDocument(doc: Document.Parsed): DocumentIndex {
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
