/**
 * Phrases for policy issue messages: how a value, a quoted string or a
 * likely-meant key reads to the file's author. Pure string helpers.
 */

/** A string for a message: quoted, and cut short so one bad value cannot flood the output. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** What a value found in the file is, as a person says it: `"15x"`, `a list`, `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/** One line, whatever a library put in the message. */
export function oneLine(message: string): string {
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

/**
 * The known key an unknown `key` was probably meant to be (same letters in
 * another case, or at most two edits away), for a "did you mean" hint.
 */
export function suggestion(key: string, known: readonly string[]): string | undefined {
  if (key.length > 40) return undefined;
  const lower = key.toLowerCase();
  return known.find(
    (candidate) => candidate.toLowerCase() === lower || editDistance(key, candidate) <= 2,
  );
}
