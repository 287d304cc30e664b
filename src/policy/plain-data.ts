/**
 * Reading the plain-JS form of a policy file. It is untrusted and may have any
 * shape, so only own properties are followed.
 */
import type { DocumentPath } from './document-path.js';

/** A mapping (a plain object that is not a list). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at `path` in the plain-JS form of the file, own properties only. */
export function valueAt(root: unknown, path: DocumentPath): unknown {
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
