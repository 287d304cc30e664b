import { writeFileSync } from 'node:fs';
import { link, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { loadGatewayConfigFile } from './config/load-gateway-config-file.js';
import type { GatewayConfig } from './config/types.js';
import {
  PolicyReloader,
  type PolicyReloaderOptions,
  type ReloadResult,
  type ReloadTrigger,
} from './policy-reloader.js';

interface ConfigText {
  /** `policy.defaults.idle`, line 3. */
  readonly idle?: string;
  readonly rules?: readonly string[];
  readonly upstream?: string;
  /** Lines after the gateway section (`store`, `admin` ...). */
  readonly extra?: readonly string[];
}

/** A whole lapse.yaml; the policy's idle timeout is on line 3. */
function configText({
  idle = '15m',
  rules = [],
  upstream = 'http://127.0.0.1:3000',
  extra = [],
}: ConfigText = {}): string {
  return `${[
    'version: 1',
    'policy:',
    `  defaults: { idle: ${idle}, absolute: 8h }`,
    ...(rules.length === 0 ? [] : ['  rules:', ...rules.map((rule) => `    - ${rule}`)]),
    'gateway:',
    '  routes:',
    `    - { path: /, upstream: "${upstream}" }`,
    ...extra,
  ].join('\n')}\n`;
}

type LogLine = Record<string, unknown> & { level: number; msg: string };

interface Harness {
  readonly file: string;
  readonly dir: string;
  readonly reloader: PolicyReloader;
  readonly applied: GatewayConfig[];
  readonly reloads: Array<{ result: ReloadResult; trigger: ReloadTrigger }>;
  readonly lines: LogLine[];
  /** The next reload told to `onReload` (from now on), or a rejection after `timeoutMs`. */
  nextReload(timeoutMs?: number): Promise<{ result: ReloadResult; trigger: ReloadTrigger }>;
}

let dir: string;
let reloader: PolicyReloader | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lapse-reloader-'));
});

afterEach(async () => {
  reloader?.stop();
  reloader = undefined;
  await rm(dir, { recursive: true, force: true });
});

const LEVEL = { info: 30, warn: 40, error: 50 } as const;

/** A reloader of `dir/lapse.yaml`, first written with `initial`, not started. */
async function harness(
  initial: string,
  options: Partial<Pick<PolicyReloaderOptions, 'apply' | 'debounceMs' | 'env'>> = {},
): Promise<Harness> {
  const file = join(dir, 'lapse.yaml');
  await writeFile(file, initial);
  const env = options.env ?? {};
  const current = await loadGatewayConfigFile(file, env);
  const applied: GatewayConfig[] = [];
  const reloads: Array<{ result: ReloadResult; trigger: ReloadTrigger }> = [];
  const lines: LogLine[] = [];
  const waiters: Array<(reload: { result: ReloadResult; trigger: ReloadTrigger }) => void> = [];
  const logger = pino(
    { level: 'info' },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  reloader = new PolicyReloader(current, {
    file,
    logger,
    env,
    debounceMs: options.debounceMs ?? 50,
    apply: (config) => {
      applied.push(config);
      options.apply?.(config);
    },
    onReload: (result, trigger) => {
      const reload = { result, trigger };
      reloads.push(reload);
      for (const waiter of waiters.splice(0)) waiter(reload);
    },
  });
  const nextReload = (timeoutMs = 10_000) =>
    new Promise<{ result: ReloadResult; trigger: ReloadTrigger }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no reload within ${timeoutMs}ms; logs: ${JSON.stringify(lines)}`)),
        timeoutMs,
      );
      waiters.push((reload) => {
        clearTimeout(timer);
        resolve(reload);
      });
    });
  return { file, dir, reloader, applied, reloads, lines, nextReload };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The config of an `ok` result; fails the test on any other. */
function okConfig(result: ReloadResult): GatewayConfig {
  if (result.result !== 'ok') throw new Error(`expected ok, got ${JSON.stringify(result)}`);
  return result.config;
}

describe('PolicyReloader.reload', () => {
  it('applies a good change and logs it at info', async () => {
    const { file, reloader, applied, reloads, lines } = await harness(configText());
    await writeFile(
      file,
      configText({ idle: '20m', rules: ['{ name: admins, match: { roles: [admin] }, idle: 5m }'] }),
    );
    const result = await reloader.reload();
    const config = okConfig(result);
    expect(config.policy.defaults.idleMs).toBe(20 * 60_000);
    expect(config.policy.rules.map((rule) => rule.name)).toStrictEqual(['admins']);
    expect(applied).toStrictEqual([config]);
    expect(reloads).toStrictEqual([{ result, trigger: 'manual' }]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: LEVEL.info,
      event: 'policy.reload',
      result: 'ok',
      trigger: 'manual',
      file,
      rules: 1,
    });
  });

  it('rejects a bad change without applying it and logs its issues, with line and column, at error', async () => {
    const { file, reloader, applied, reloads, lines } = await harness(configText());
    await writeFile(file, configText({ idle: '-5s' }));
    const result = await reloader.reload();
    expect(result.result).toBe('rejected');
    expect(result.result === 'rejected' && result.error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(applied).toStrictEqual([]);
    expect(reloads).toStrictEqual([{ result, trigger: 'manual' }]);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({
      level: LEVEL.error,
      event: 'policy.reload',
      result: 'rejected',
      trigger: 'manual',
      file,
      code: ErrorCodes.CONFIG_INVALID,
    });
    const issues = line?.issues as Array<Record<string, unknown>>;
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 3, code: ErrorCodes.POLICY_BAD_DURATION });
    expect(issues[0]?.column).toBeGreaterThan(1);
    expect(Object.keys(issues[0] ?? {}).sort()).toStrictEqual([
      'code',
      'column',
      'line',
      'message',
    ]);
    expect(line?.msg).toContain(`${file}:3:`);
  });

  it('keeps the last good config after a rejection, so the next good change is compared with it', async () => {
    const { file, reloader, applied, lines } = await harness(configText());
    await writeFile(file, configText({ idle: '-5s', upstream: 'http://127.0.0.1:4000' }));
    expect((await reloader.reload()).result).toBe('rejected');
    await writeFile(file, configText({ idle: '10m' }));
    const config = okConfig(await reloader.reload());
    expect(applied).toStrictEqual([config]);
    expect(lines.filter((line) => line.event === 'config.restart-needed')).toStrictEqual([]);
  });

  it('rejects a file that cannot be read, without issues', async () => {
    const { file, reloader, applied, lines } = await harness(configText());
    await unlink(file);
    const result = await reloader.reload();
    expect(result.result === 'rejected' && result.error.code).toBe(ErrorCodes.FILE_UNREADABLE);
    expect(applied).toStrictEqual([]);
    expect(lines[0]).toMatchObject({
      level: LEVEL.error,
      result: 'rejected',
      code: ErrorCodes.FILE_UNREADABLE,
    });
    expect(lines[0]).not.toHaveProperty('issues');
  });

  it('calls a file event on a file whose bytes did not change unchanged, and neither applies nor logs', async () => {
    const { reloader, applied, lines } = await harness(configText());
    await reloader.start();
    expect(await reloader.reload('file')).toStrictEqual({ result: 'unchanged' });
    expect(applied).toStrictEqual([]);
    expect(lines).toStrictEqual([]);
  });

  it('compares file events with the last file it read, good or bad', async () => {
    const { file, reloader, applied, lines } = await harness(configText());
    await reloader.start();
    await writeFile(file, configText({ idle: '20m' }));
    expect((await reloader.reload('manual')).result).toBe('ok');
    expect(await reloader.reload('file')).toStrictEqual({ result: 'unchanged' });
    await writeFile(file, configText({ idle: 'soon' }));
    expect((await reloader.reload('file')).result).toBe('rejected');
    expect(await reloader.reload('file')).toStrictEqual({ result: 'unchanged' });
    expect(applied).toHaveLength(1);
    expect(lines.map((line) => line.level)).toStrictEqual([LEVEL.info, LEVEL.error]);
  });

  it('reloads an unchanged file on SIGHUP or by hand', async () => {
    const { reloader, applied } = await harness(configText());
    await reloader.start();
    expect((await reloader.reload('sighup')).result).toBe('ok');
    expect((await reloader.reload('manual')).result).toBe('ok');
    expect(applied).toHaveLength(2);
  });

  it('warns config.restart-needed for a change outside the policy, and still applies the policy', async () => {
    const { file, reloader, applied, lines } = await harness(configText());
    await writeFile(file, configText({ idle: '20m', upstream: 'http://127.0.0.1:4000' }));
    const config = okConfig(await reloader.reload());
    expect(applied).toStrictEqual([config]);
    const warnings = lines.filter((line) => line.level === LEVEL.warn);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      event: 'config.restart-needed',
      sections: ['gateway'],
      file,
    });
  });

  it('names every section that changed, and warns no more once the change is in', async () => {
    const { file, reloader, lines } = await harness(configText());
    await writeFile(
      file,
      configText({
        extra: ['store: { type: memory }', 'admin: { listen: "127.0.0.1:7779" }'],
      }),
    );
    expect((await reloader.reload()).result).toBe('ok');
    expect((await reloader.reload()).result).toBe('ok');
    const warnings = lines.filter((line) => line.event === 'config.restart-needed');
    expect(warnings.map((line) => line.sections)).toStrictEqual([['store', 'admin']]);
  });

  it('warns no restart for a change to the policy alone', async () => {
    const { file, reloader, lines } = await harness(configText());
    await writeFile(file, configText({ idle: '1m' }));
    expect((await reloader.reload()).result).toBe('ok');
    expect(lines.filter((line) => line.level !== LEVEL.info)).toStrictEqual([]);
  });

  it('warns config.restart-needed when only a secret of a section changed', async () => {
    const redis = (host: string) => [`store: { type: redis, url: "redis://${host}:6379/0" }`];
    const { file, reloader, lines } = await harness(configText({ extra: redis('cache-a') }));
    await writeFile(file, configText({ extra: redis('cache-b') }));
    expect((await reloader.reload()).result).toBe('ok');
    const warnings = lines.filter((line) => line.event === 'config.restart-needed');
    expect(warnings.map((line) => line.sections)).toStrictEqual([['store']]);
  });

  it('runs reloads one at a time: a reload reads the file only after the one before it applied', async () => {
    let file = '';
    const writes: string[] = [configText({ idle: '3m' })];
    const { reloader, applied, reloads, ...rest } = await harness(configText(), {
      // The first apply writes the file the second reload must see.
      apply: () => {
        const next = writes.shift();
        if (next !== undefined) {
          writeFileSync(file, next);
        }
      },
    });
    file = rest.file;
    await writeFile(file, configText({ idle: '2m' }));
    const [first, second, third] = await Promise.all([
      reloader.reload('manual'),
      reloader.reload('sighup'),
      reloader.reload('manual'),
    ]);
    expect(okConfig(first).policy.defaults.idleMs).toBe(2 * 60_000);
    expect(okConfig(second).policy.defaults.idleMs).toBe(3 * 60_000);
    expect(okConfig(third).policy.defaults.idleMs).toBe(3 * 60_000);
    expect(applied.map((config) => config.policy.defaults.idleMs)).toStrictEqual([
      2 * 60_000,
      3 * 60_000,
      3 * 60_000,
    ]);
    expect(reloads.map((reload) => reload.trigger)).toStrictEqual(['manual', 'sighup', 'manual']);
  });

  it('lets a reload whose apply throws fail alone, and runs the next one', async () => {
    let calls = 0;
    const { file, reloader, applied } = await harness(configText(), {
      apply: () => {
        calls += 1;
        if (calls === 1) throw new Error('setPolicy failed');
      },
    });
    await writeFile(file, configText({ idle: '2m' }));
    const failing = reloader.reload();
    const next = reloader.reload();
    await expect(failing).rejects.toThrow('setPolicy failed');
    expect((await next).result).toBe('ok');
    expect(applied).toHaveLength(2);
  });
});

describe('PolicyReloader watching', () => {
  it('reloads a file written in place', async () => {
    const { file, reloader, applied, nextReload } = await harness(configText());
    await reloader.start();
    const reloaded = nextReload();
    await writeFile(file, configText({ idle: '7m' }));
    const { result, trigger } = await reloaded;
    expect(trigger).toBe('file');
    expect(okConfig(result).policy.defaults.idleMs).toBe(7 * 60_000);
    expect(applied).toStrictEqual([okConfig(result)]);
  });

  it('reloads a file saved the way editors do, as a new file renamed over the old one', async () => {
    const { file, reloader, applied, nextReload } = await harness(configText());
    await reloader.start();
    const reloaded = nextReload();
    const temporary = join(dir, '.lapse.yaml.swp');
    await writeFile(temporary, configText({ idle: '9m' }));
    await rename(temporary, file);
    const { result, trigger } = await reloaded;
    expect(trigger).toBe('file');
    expect(okConfig(result).policy.defaults.idleMs).toBe(9 * 60_000);
    expect(applied).toHaveLength(1);
  });

  it('rejects a bad file the watcher sees and logs it', async () => {
    const { file, reloader, applied, lines, nextReload } = await harness(configText());
    await reloader.start();
    const reloaded = nextReload();
    await writeFile(file, configText({ idle: 'never' }));
    const { result, trigger } = await reloaded;
    expect(trigger).toBe('file');
    expect(result.result).toBe('rejected');
    expect(applied).toStrictEqual([]);
    expect(lines.some((line) => line.level === LEVEL.error && line.trigger === 'file')).toBe(true);
  });

  it('waits for a quiet spell: writes closer together than the debounce make one reload, with the last of them', async () => {
    const { file, reloader, reloads, nextReload } = await harness(configText(), {
      debounceMs: 400,
    });
    await reloader.start();
    const reloaded = nextReload();
    // The writes span twice the debounce, so a debounce that is not restarted by each write fires among them.
    for (let minutes = 2; minutes <= 17; minutes += 1) {
      await writeFile(file, configText({ idle: `${minutes}m` }));
      await sleep(50);
    }
    const { result } = await reloaded;
    expect(okConfig(result).policy.defaults.idleMs).toBe(17 * 60_000);
    await sleep(800);
    expect(reloads).toHaveLength(1);
  });

  it('ignores events of other files in the same directory', async () => {
    const { file, reloader, reloads, applied } = await harness(configText());
    await reloader.start();
    // Change the config through a hard link in another directory, which the watcher does not see...
    const elsewhere = await mkdtemp(join(tmpdir(), 'lapse-reloader-link-'));
    try {
      const alias = join(elsewhere, 'alias.yaml');
      await link(file, alias);
      await writeFile(alias, configText({ idle: '1m' }));
      await sleep(300);
      expect(reloads).toStrictEqual([]);
      // ...so that a reload set off by another file's event would find it changed and apply it.
      await writeFile(join(dir, 'other.yaml'), configText({ idle: '2m' }));
      await writeFile(join(dir, 'lapse.yaml.bak'), configText({ idle: '2m' }));
      await sleep(500);
      expect(reloads).toStrictEqual([]);
      expect(applied).toStrictEqual([]);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('listens for SIGHUP while started, reloading with trigger sighup', async () => {
    const before = process.listeners('SIGHUP');
    const { reloader, nextReload } = await harness(configText());
    await reloader.start();
    const added = process.listeners('SIGHUP').filter((listener) => !before.includes(listener));
    expect(added).toHaveLength(1);
    const reloaded = nextReload();
    // The listener itself, called as the signal would call it: no signal is sent to the test process.
    (added[0] as (signal: NodeJS.Signals) => void)('SIGHUP');
    const { result, trigger } = await reloaded;
    expect(trigger).toBe('sighup');
    expect(result.result).toBe('ok');
    reloader.stop();
    expect(process.listeners('SIGHUP')).toStrictEqual(before);
  });

  it('stops watching the file after stop()', async () => {
    const { file, reloader, reloads, applied } = await harness(configText());
    await reloader.start();
    reloader.stop();
    await writeFile(file, configText({ idle: '2m' }));
    const temporary = join(dir, 'lapse.yaml.tmp');
    await writeFile(temporary, configText({ idle: '3m' }));
    await rename(temporary, file);
    await sleep(500);
    expect(reloads).toStrictEqual([]);
    expect(applied).toStrictEqual([]);
  });

  it('cancels a file reload already waiting out its debounce when stopped', async () => {
    const { file, reloader, reloads } = await harness(configText(), { debounceMs: 300 });
    await reloader.start();
    await writeFile(file, configText({ idle: '2m' }));
    await sleep(100);
    reloader.stop();
    await sleep(600);
    expect(reloads).toStrictEqual([]);
  });
});
