/**
 * `lapse serve` as an operator runs it: the real bin in a child process, a
 * config file on disk, structured logs on stdout. A bad reload keeps the old
 * policy serving; SIGHUP and a changed file reload; SIGTERM drains and exits 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatIdentityHeader } from '../src/gateway/identity-header.js';
import { gatewayYaml, startUpstream, type Upstream } from './helpers/gateway-harness.js';
import { cookieValue, parseSessionHeader, rawRequest } from './helpers/http-client.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'dist/cli/bin.js');

const policy = (idle: string) => `
policy:
  defaults: { idle: ${idle}, absolute: 1h, warn: 10s }
`;

interface Served {
  child: ChildProcess;
  url: string;
  /** Every log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line (from now on or already seen) that matches. */
  waitForLog(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function startServe(configFile: string): Promise<Served> {
  const child = spawn(process.execPath, [bin, 'serve', '--config', configFile, '--drain', '2000'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    match: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }> = [];
  let buffered = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline = buffered.indexOf('\n');
    while (newline !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      const line = JSON.parse(text) as Record<string, unknown>;
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitForLog = (match: (line: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = logs.find(match);
      if (seen !== undefined) {
        resolve(seen);
        return;
      }
      const timer = setTimeout(
        () =>
          reject(new Error(`no such log line; logs: ${JSON.stringify(logs)} stderr: ${stderr}`)),
        10_000,
      );
      waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  return waitForLog((line) => line.event === 'gateway.listen').then((line) => ({
    child,
    url: line.url as string,
    logs,
    waitForLog,
    exited,
  }));
}

let upstream: Upstream;
let served: Served | undefined;
let dir: string;
let configFile: string;

beforeAll(() => {
  if (!existsSync(bin)) throw new Error('dist/cli/bin.js is missing: run `npm run build` first');
});

beforeEach(async () => {
  upstream = await startUpstream((req, res) => {
    if (req.url === '/login') {
      res.setHeader('Lapse-Begin', formatIdentityHeader({ subject: 'u1' }));
    }
    if (req.url === '/slow') {
      setTimeout(() => res.end('finished'), 500);
      return;
    }
    res.end('ok');
  });
  dir = await mkdtemp(join(tmpdir(), 'lapse-serve-'));
  configFile = join(dir, 'lapse.yaml');
  await writeFile(configFile, gatewayYaml(upstream.url, { policy: policy('60s') }));
});

afterEach(async () => {
  if (served !== undefined && served.child.exitCode === null) {
    served.child.kill('SIGKILL');
    await served.exited;
  }
  served = undefined;
  await upstream.close();
});

async function idleSeconds(url: string, id: string): Promise<number> {
  const res = await rawRequest(url, 'GET', '/x', { cookie: `lapse_sid=${id}` });
  expect(res.status).toBe(200);
  return parseSessionHeader(res.headers['lapse-session']).idle as number;
}

describe('lapse serve', () => {
  it('refuses to start on a broken config, naming file:line:column', async () => {
    await writeFile(configFile, 'version: 1\npolicy:\n  defaults: { idle: soon }\n');
    const child = spawn(process.execPath, [bin, 'serve', '--config', configFile], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain(`${configFile}:3:`);
    expect(stderr).toContain('the gateway did not start');
  });

  it('keeps the last good policy when a reload is bad, and takes a good one on SIGHUP or a file change', async () => {
    served = await startServe(configFile);
    const login = await rawRequest(served.url, 'POST', '/login');
    const id = cookieValue(login.cookies, 'lapse_sid') as string;
    expect(await idleSeconds(served.url, id)).toBeGreaterThan(50);

    // A broken file (written in place): rejected, logged with its position, old policy serving.
    await writeFile(configFile, gatewayYaml(upstream.url, { policy: policy('-5s') }));
    const rejected = await served.waitForLog(
      (line) => line.event === 'policy.reload' && line.result === 'rejected',
    );
    expect(JSON.stringify(rejected.issues)).toContain('"line":');
    expect(await idleSeconds(served.url, id)).toBeGreaterThan(50);

    // A good file, saved the way editors do (a new file renamed over the old): reloaded.
    const next = join(dir, 'lapse.yaml.tmp');
    await writeFile(next, gatewayYaml(upstream.url, { policy: policy('20s') }));
    await rename(next, configFile);
    await served.waitForLog(
      (line) => line.event === 'policy.reload' && line.result === 'ok' && line.trigger === 'file',
    );
    expect(await idleSeconds(served.url, id)).toBeLessThanOrEqual(20);

    // SIGHUP reloads too.
    served.child.kill('SIGHUP');
    await served.waitForLog(
      (line) => line.event === 'policy.reload' && line.result === 'ok' && line.trigger === 'sighup',
    );
    expect(await idleSeconds(served.url, id)).toBeLessThanOrEqual(20);
  });

  it('drains a request in flight on SIGTERM, then exits 0', async () => {
    served = await startServe(configFile);
    const login = await rawRequest(served.url, 'POST', '/login');
    const id = cookieValue(login.cookies, 'lapse_sid') as string;
    const inFlight = rawRequest(served.url, 'GET', '/slow', { cookie: `lapse_sid=${id}` });
    await new Promise((resolve) => setTimeout(resolve, 100));
    served.child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body).toBe('finished');
    expect(await served.exited).toBe(0);
    expect(served.logs.some((line) => line.event === 'gateway.closed')).toBe(true);
  });

  it('starts the admin listener: metrics behind the token, audit lines on stdout', async () => {
    const token = 'an-admin-token-that-is-long-enough-1234';
    await writeFile(
      configFile,
      gatewayYaml(upstream.url, {
        policy: policy('60s'),
        extra: `admin: { listen: 127.0.0.1:0, token: "${token}" }`,
      }),
    );
    served = await startServe(configFile);
    const adminUrl = (await served.waitForLog((line) => line.event === 'admin.listen'))
      .url as string;
    const login = await rawRequest(served.url, 'POST', '/login');
    expect(cookieValue(login.cookies, 'lapse_sid')).toBeDefined();
    const begin = await served.waitForLog((line) => line.event === 'session.begin');
    expect(begin).toMatchObject({ subject: 'u1', rule: 'defaults' });
    expect(String(begin.session)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect((await rawRequest(adminUrl, 'GET', '/metrics')).status).toBe(401);
    const metrics = await rawRequest(adminUrl, 'GET', '/metrics', {
      authorization: `Bearer ${token}`,
    });
    expect(metrics.body).toContain('lapse_sessions_started_total 1');
    served.child.kill('SIGHUP');
    await served.waitForLog((line) => line.event === 'policy.reload' && line.reason === 'ok');
    const after = await rawRequest(adminUrl, 'GET', '/metrics', {
      authorization: `Bearer ${token}`,
    });
    expect(after.body).toContain('lapse_policy_reloads_total{result="ok"} 1');
  });

  it('never writes the session id or a secret to its logs', async () => {
    await writeFile(
      configFile,
      gatewayYaml(upstream.url, {
        policy: policy('60s'),
        extra: 'admin: { listen: 127.0.0.1:0, token: "an-admin-token-that-is-long-enough-1234" }',
      }),
    );
    served = await startServe(configFile);
    const login = await rawRequest(served.url, 'POST', '/login');
    const id = cookieValue(login.cookies, 'lapse_sid') as string;
    served.child.kill('SIGHUP');
    await served.waitForLog((line) => line.event === 'policy.reload');
    served.child.kill('SIGTERM');
    await served.exited;
    const text = JSON.stringify(served.logs);
    expect(text).not.toContain(id);
    expect(text).not.toContain('an-admin-token-that-is-long-enough-1234');
  });
});
