import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, FileUnreadableError } from '../errors.js';
import { MAX_POLICY_BYTES } from './load-policy.js';
import { loadPolicyFile } from './load-policy-file.js';
import { PolicyLoadError } from './policy-load-error.js';

/** A YAML document from lines, so line numbers in tests are easy to read. */
const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

/** The smallest valid head: a test appends its own lines to it. */
const HEAD = ['version: 1', 'policy:', '  defaults: { idle: 15m, absolute: 8h }'];

describe('loadPolicyFile', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lapse-load-policy-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names it as given in issues', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, yaml('version: 3', ...HEAD.slice(1)));
    const error = await loadPolicyFile(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).message).toBe(
      `${file}:1:10: version: 3 is not supported; this lapse reads version 1 only`,
    );
  });

  it('throws FileUnreadableError for a missing file and for a directory', async () => {
    await expect(loadPolicyFile(join(dir, 'missing.yaml'))).rejects.toBeInstanceOf(
      FileUnreadableError,
    );
    await expect(loadPolicyFile(dir)).rejects.toMatchObject({ code: ErrorCodes.FILE_UNREADABLE });
  });

  it('stops reading a file over 1 MiB and rejects it at 1:1', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, `# ${'x'.repeat(2 * MAX_POLICY_BYTES)}\n`);
    await expect(loadPolicyFile(file)).rejects.toMatchObject({
      code: ErrorCodes.POLICY_INVALID,
      issues: [{ code: ErrorCodes.POLICY_BAD_VALUE, line: 1, column: 1, file }],
    });
  });

  it('reads UTF-8 with a byte-order mark', async () => {
    const file = join(dir, 'bom.yaml');
    await writeFile(
      file,
      `\uFEFF${yaml(...HEAD, '  rules:', '    - { name: café, match: { app: x } }')}`,
    );
    expect((await loadPolicyFile(file)).rules[0]?.name).toBe('café');
  });
});
