/**
 * Small random edits of a valid file, for fuzzing loaders: what a person's
 * typo, a bad merge or a truncated write does to a YAML file.
 */
import fc from 'fast-check';

/** Characters that mean something to YAML, plus a few of content. */
export const YAML_ALPHABET = [...'{}[]:,-?&*!|>\'"#%@`~ \n\t abcdefgmsh0123456789./'];

/** Delete or duplicate a line, or replace or insert one character. */
export type Mutation =
  | { readonly kind: 'line'; readonly duplicate: boolean; readonly line: number }
  | { readonly kind: 'char'; readonly insert: boolean; readonly at: number; readonly char: string };

/** One random edit. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('line' as const), duplicate: fc.boolean(), line: fc.nat() }),
  fc.record({
    kind: fc.constant('char' as const),
    insert: fc.boolean(),
    at: fc.nat(),
    char: fc.constantFrom(...YAML_ALPHABET, 'é', '\u0000', '\uFEFF', '\r'),
  }),
);

/** Apply the edits in order. */
export function mutate(text: string, mutations: readonly Mutation[]): string {
  let result = text;
  for (const change of mutations) {
    if (change.kind === 'line') {
      const lines = result.split('\n');
      const index = change.line % lines.length;
      if (change.duplicate) lines.splice(index, 0, lines[index] ?? '');
      else lines.splice(index, 1);
      result = lines.join('\n');
    } else {
      const index = result.length === 0 ? 0 : change.at % result.length;
      const keep = change.insert ? index : index + 1;
      result = result.slice(0, index) + change.char + result.slice(keep);
    }
  }
  return result;
}
