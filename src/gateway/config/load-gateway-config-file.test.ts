import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, FileUnreadableError } from '../../errors.js';
import { MAX_POLICY_BYTES } from '../../policy/load-policy.js';
import { GatewayConfigError } from './gateway-config-error.js';
import { loadGatewayConfigFile } from './load-gateway-config-file.js';

const yaml = (...lines: string[]) => `${lines.join('\n')}\n`;

const VALID = yaml(
  'version: 1',
  'policy:',
  '  defaults: { idle: 15m, absolute: 8h }',
  'gateway:',
  '  routes:',
  '    - { path: /, upstream: "http://127.0.0.1:3000" }',
  'admin: { token: env:LAPSE_FILE_TEST_TOKEN }',
);

describe('loadGatewayConfigFile', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lapse-gateway-config-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file, with env:NAME from the env given, and names the file as given', async () => {
    const file = join(dir, 'lapse.yaml');
    await writeFile(file, VALID);
    const config = await loadGatewayConfigFile(file, {
      LAPSE_FILE_TEST_TOKEN: 'file-test-token-0123456789',
    });
    expect(config.file).toBe(file);
    expect(config.admin.token?.value()).toBe('file-test-token-0123456789');
  });

  it('throws GatewayConfigError naming the file for a file with problems', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, VALID);
    const error = await loadGatewayConfigFile(file, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect((error as GatewayConfigError).message).toBe(
      `${file}:7:17: admin.token: the environment variable LAPSE_FILE_TEST_TOKEN is not set: set it to an admin token`,
    );
  });

  it('throws FileUnreadableError for a missing file and for a directory', async () => {
    await expect(loadGatewayConfigFile(join(dir, 'missing.yaml'))).rejects.toBeInstanceOf(
      FileUnreadableError,
    );
    await expect(loadGatewayConfigFile(dir)).rejects.toBeInstanceOf(FileUnreadableError);
  });

  it('stops reading a file over 1 MiB and reports it at 1:1', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, `${VALID}#${'x'.repeat(MAX_POLICY_BYTES)}\n`);
    const error = await loadGatewayConfigFile(file, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect((error as GatewayConfigError).issues).toMatchObject([
      { code: ErrorCodes.POLICY_BAD_VALUE, file, line: 1, column: 1 },
    ]);
  });
});
