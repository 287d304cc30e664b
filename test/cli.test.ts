import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');
const example = join(root, 'examples/lapse.yaml');
const trace = join(root, 'examples/trace.jsonl');
const specExample = join(root, 'test/fixtures/spec-example.yaml');
const noLimits = join(root, 'test/fixtures/no-limits.yaml');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the real `lapse` bin in a child process. */
function lapse(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lapse-cli-'));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

beforeAll(() => {
  if (!existsSync(bin))
    throw new Error('dist/cli/bin.js is missing: run `npm run build` first (npm test does)');
});

describe('lapse check', () => {
  it('accepts the README example policy with exit code 0', async () => {
    const run = await lapse('check', example);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('examples/lapse.yaml: ok');
    expect(run.stdout).toContain('PCI DSS v4.0 req. 8.2.8');
  });

  it('prints machine-readable success with --json', async () => {
    const run = await lapse('check', example, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: true,
      rules: ['admins', 'production', 'services'],
    });
  });

  it('rejects the SPEC example, whose idle: off breaks pci-dss-4, at the line and column of the value', async () => {
    const run = await lapse('check', specExample);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/spec-example\.yaml:17:13: .*8\.2\.8/);
    const json = JSON.parse((await lapse('check', specExample, '--json')).stdout);
    expect(json.ok).toBe(false);
    expect(json.issues[0]).toMatchObject({
      code: 'LAPSE_POLICY_ABOVE_LIMIT',
      line: 17,
      column: 13,
    });
  });

  it('reports every error of a broken file as file:line:column: message', async () => {
    const file = await tempFile(
      'broken.yaml',
      'version: 1\npolicy:\n  defaults: { idle: 15x, absolute: 8h }\n  rules:\n    - name: a\n      match: {}\n  colour: blue\n',
    );
    const run = await lapse('check', file);
    expect(run.code).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^.*broken\.yaml:\d+:\d+: .+/);
    expect(lines[0]).toContain('broken.yaml:3:21:');
  });

  it('exits 2 for a file that does not exist', async () => {
    const run = await lapse('check', join(root, 'no-such-file.yaml'));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no-such-file.yaml');
  });

  it('exits 2 for a usage error', async () => {
    expect((await lapse('check')).code).toBe(2);
    expect((await lapse('frobnicate')).code).toBe(2);
    expect((await lapse()).code).toBe(2);
    expect((await lapse('check', example, '--no-such-flag')).code).toBe(2);
  });
});

describe('lapse explain', () => {
  it('prints the README explanation for an admin in production', async () => {
    const run = await lapse(
      'explain',
      example,
      '--roles',
      'admin',
      '--env',
      'production',
      '--json',
    );
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(
      '{"idle":{"ms":300000,"from":"admins"},"absolute":{"ms":3600000,"from":"admins"},"warn":{"ms":120000,"from":"defaults","clamped":false}}',
    );
  });

  it('reports idle off as null and a clamped warning', async () => {
    const run = await lapse('explain', noLimits, '--user-type', 'service', '--json');
    expect(JSON.parse(run.stdout)).toEqual({
      idle: { ms: null, from: 'services' },
      absolute: { ms: 28_800_000, from: 'defaults' },
      warn: { ms: 600_000, from: 'defaults', clamped: false },
    });
    const admin = JSON.parse(
      (await lapse('explain', noLimits, '--roles', 'admin,dev', '--json')).stdout,
    );
    expect(admin.warn).toEqual({ ms: 150_000, from: 'defaults', clamped: true });
  });

  it('explains in words without --json', async () => {
    const run = await lapse('explain', example, '--roles', 'admin', '--env', 'production');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/idle\s+5m\s+from admins/);
    expect(run.stdout).toContain('rules applied: admins, production');
    expect(run.stdout).toContain('Admin sessions end after 5 minutes without activity.');
    expect(run.stdout).toContain('idle limit: at most 15m (pci-dss-4: PCI DSS v4.0 req. 8.2.8)');
    expect(run.stdout).toContain('absolute limit: at most 12h (limits.absolute)');
  });

  it('exits 2 when the policy does not load', async () => {
    const run = await lapse('explain', specExample, '--roles', 'admin');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('spec-example.yaml:17:13:');
  });
});

describe('lapse simulate', () => {
  it('reports the warning and the idle end of the example trace, and exits 1', async () => {
    const run = await lapse('simulate', example, '--trace', trace, '--env', 'production', '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      warnings: [1_020_000],
      end: { at: 1_140_000, reason: 'idle' },
    });
  });

  it('exits 0 when the session outlives the trace', async () => {
    const file = await tempFile(
      'alive.jsonl',
      '{"at":"1m","kind":"request"}\n{"at":"10m","kind":"request"}\n',
    );
    const run = await lapse('simulate', example, '--trace', file, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ warnings: [], end: null });
  });

  it('does not let passive traffic keep the session alive', async () => {
    const file = await tempFile(
      'poll.jsonl',
      Array.from({ length: 30 }, (_, i) =>
        JSON.stringify({ at: `${i + 1}m`, kind: 'passive' }),
      ).join('\n'),
    );
    const run = await lapse('simulate', example, '--trace', file, '--roles', 'admin', '--json');
    expect(run.code).toBe(1);
    // Admin: idle 5m, warn 2m; nothing but polling after sign-in.
    expect(JSON.parse(run.stdout)).toEqual({
      warnings: [180_000],
      end: { at: 300_000, reason: 'idle' },
    });
  });

  it('ends on the absolute deadline under constant activity, with one warning for it', async () => {
    const file = await tempFile(
      'busy.jsonl',
      Array.from({ length: 70 }, (_, i) =>
        JSON.stringify({ at: `${i + 1}m`, kind: 'request' }),
      ).join('\n'),
    );
    const run = await lapse('simulate', example, '--trace', file, '--roles', 'admin', '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toEqual({
      warnings: [3_480_000],
      end: { at: 3_600_000, reason: 'absolute' },
    });
  });

  it('tells the story in words without --json', async () => {
    const run = await lapse('simulate', example, '--trace', trace, '--env', 'production');
    expect(run.stdout).toContain('WARNING: the session ends at 19m (idle)');
    expect(run.stdout).toContain('ENDED: idle timeout');
  });

  it('exits 2 with the line number for a malformed trace', async () => {
    const file = await tempFile(
      'bad.jsonl',
      '{"at":"1m","kind":"request"}\n{"at":"2m","kind":"click"}\n',
    );
    const run = await lapse('simulate', example, '--trace', file);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('bad.jsonl:2:');
    const backwards = await tempFile(
      'back.jsonl',
      '{"at":"5m","kind":"request"}\n{"at":"2m","kind":"request"}\n',
    );
    expect((await lapse('simulate', example, '--trace', backwards)).code).toBe(2);
    expect((await lapse('simulate', example, '--trace', join(root, 'missing.jsonl'))).code).toBe(2);
    expect((await lapse('simulate', example)).code).toBe(2);
  });
});

describe('lapse schema and help', () => {
  it('prints the committed JSON Schema', async () => {
    const run = await lapse('schema');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(
      JSON.parse(readFileSync(join(root, 'schema/lapse.schema.json'), 'utf8')),
    );
  });

  it.each([[], ['check'], ['explain'], ['simulate'], ['schema']])(
    'prints --help for %j',
    async (...command) => {
      const run = await lapse(...command.flat(), '--help');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Usage: lapse');
    },
  );
});

describe('README', () => {
  it('shows the example policy exactly as examples/lapse.yaml holds it', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`\`\`\`yaml\n${readFileSync(example, 'utf8')}\`\`\``);
  });
});
