// The one module of policy/ that touches the file system: it reads the bytes,
// bounded, and leaves everything else to the pure `loadPolicy`.
import { open } from 'node:fs/promises';
import { FileUnreadableError } from '../errors.js';
import { loadPolicy, MAX_POLICY_BYTES, policyTooLargeError } from './load-policy.js';
import type { Policy } from './types.js';

/** Read at most `max` bytes; `undefined` when the file is larger. */
export async function readBounded(path: string, max: number): Promise<string | undefined> {
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
  if (text === undefined) throw policyTooLargeError(path, `more than ${MAX_POLICY_BYTES} bytes`);
  return loadPolicy(text, path);
}
