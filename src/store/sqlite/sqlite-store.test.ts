import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, LapseError } from '../../errors.js';
import { CompiledPolicy } from '../../policy/compiled-policy.js';
import type { Policy } from '../../policy/types.js';
import { ManualClock, systemClock } from '../../session/clock.js';
import type { PolicyResolver } from '../../session/decide.js';
import { generateSessionId, hashSessionId } from '../../session/session-id.js';
import type { SessionRecord } from '../../session/types.js';
import type { AccessResult, RevokeNotice, RevokeResult } from '../session-store.js';
import { SqliteStore, type SqliteStoreOptions } from './index.js';
import { validateSqliteOptions } from './options.js';
import { SCHEMA_VERSION } from './schema.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const START = Date.UTC(2025, 0, 1, 9, 0, 0);

const root = fileURLToPath(new URL('../../..', import.meta.url));
const child = join(root, 'test/fixtures/sqlite-child.mjs');
const builtEntry = join(root, 'dist/store/sqlite/index.js');

function timeouts(idleMs: number | null, absoluteMs = 8 * HOUR): PolicyResolver {
  const policy: Policy = {
    version: 1,
    comply: [],
    defaults: { idleMs, absoluteMs, warnMs: 0 },
    ceilings: {},
    rules: [],
    passive: [],
  };
  return new CompiledPolicy(policy).forContext({});
}

const STANDARD = timeouts(15 * MINUTE);
const IDLE_1M = timeouts(MINUTE);

const opened: SqliteStore[] = [];
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lapse-sqlite-'));
  dirs.push(dir);
  return dir;
}

async function tempPath(): Promise<string> {
  return join(await tempDir(), 'lapse.db');
}

function open(options: SqliteStoreOptions = {}): SqliteStore {
  const store = new SqliteStore({ sweepIntervalMs: 0, ...options });
  opened.push(store);
  return store;
}

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** What `action` threw, which must be a LapseError. */
async function lapseError(action: () => unknown): Promise<LapseError & { option?: string }> {
  try {
    await action();
  } catch (error) {
    if (error instanceof LapseError) return error;
    throw error;
  }
  throw new Error('expected a LapseError');
}

function newIdHash(): string {
  return hashSessionId(generateSessionId());
}

function expectActive(result: AccessResult): Extract<AccessResult, { outcome: 'active' }> {
  if (result.outcome !== 'active') throw new Error(`expected active, got ${result.outcome}`);
  return result;
}

describe('SqliteStore options', () => {
  it.each([
    ['path', { path: '' }],
    ['path', { path: 42 }],
    ['path', { path: 'a\0b' }],
    ['retainEndedMs', { retainEndedMs: -1 }],
    ['retainEndedMs', { retainEndedMs: 1.5 }],
    ['retainEndedMs', { retainEndedMs: Number.POSITIVE_INFINITY }],
    ['sweepIntervalMs', { sweepIntervalMs: -1 }],
    ['sweepIntervalMs', { sweepIntervalMs: 2 ** 31 }],
    ['revokePollMs', { revokePollMs: 0 }],
    ['revokePollMs', { revokePollMs: 1001 }],
    ['revokePollMs', { revokePollMs: '250' }],
    ['clock', { clock: Date.now }],
    ['filename', { filename: './x.db' }],
    ['bucketMs', { bucketMs: 1000 }],
    ['options', null],
    ['options', ['./x.db']],
  ])(
    'rejects a bad %s (%j) with LAPSE_OPTION_INVALID naming the option',
    async (option, options) => {
      const error = await lapseError(() => new SqliteStore(options as SqliteStoreOptions));
      expect(error.code).toBe(ErrorCodes.OPTION_INVALID);
      expect(error.option).toBe(option);
    },
  );

  it('says which option was meant for a misspelling', async () => {
    const error = await lapseError(() => new SqliteStore({ file: 'x.db' } as SqliteStoreOptions));
    expect(error.message).toContain('use path instead');
  });

  it('fills the defaults and freezes the validated options', () => {
    expect(validateSqliteOptions({})).toEqual({
      path: './lapse.db',
      clock: systemClock,
      retainEndedMs: 24 * HOUR,
      sweepIntervalMs: 1000,
      revokePollMs: 250,
    });
    const store = open({ path: ':memory:' });
    expect(store.options).toMatchObject({ path: ':memory:', sweepIntervalMs: 0 });
    expect(Object.isFrozen(store.options)).toBe(true);
  });
});

describe('SqliteStore file', () => {
  it('opens the file in WAL mode with the current schema version', async () => {
    const path = await tempPath();
    open({ path });
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      raw.close();
    }
  });

  it('keeps sessions, touches and revocations across a restart', async () => {
    const path = await tempPath();
    const clock = new ManualClock(START);
    const first = open({ path, clock });
    const live = newIdHash();
    const revoked = newIdHash();
    const created = await first.create(live, { subject: 'u1', attrs: { tenant: 't1' } }, STANDARD);
    await first.create(revoked, { subject: 'u1' }, STANDARD);
    clock.advance(MINUTE);
    const touched = expectActive(await first.access(live, 'touch', STANDARD)).record;
    await first.revoke(revoked, 'logout');
    await first.close();

    const second = open({ path, clock });
    expect(await second.get(live)).toEqual(touched);
    expect(touched.createdAt).toBe(created.record.createdAt);
    expectActive(await second.access(live, 'touch', STANDARD));
    expect(await second.get(revoked)).toMatchObject({
      endReason: 'revoked',
      revokeReason: 'logout',
    });
  });

  it('holds only the hash of a session id, never the id', async () => {
    const dir = await tempDir();
    const path = join(dir, 'lapse.db');
    const store = open({ path });
    const id = generateSessionId();
    const idHash = hashSessionId(id);
    await store.create(idHash, { subject: 'u1' }, STANDARD);
    await store.access(idHash, 'touch', STANDARD);
    const bytesOnDisk = async () => {
      const files = await readdir(dir);
      const contents = await Promise.all(files.map((file) => readFile(join(dir, file))));
      return Buffer.concat(contents);
    };
    // While open (rows in the WAL) and after close (checkpointed into the file).
    let bytes = await bytesOnDisk();
    expect(bytes.includes(idHash)).toBe(true);
    expect(bytes.includes(id)).toBe(false);
    await store.close();
    bytes = await bytesOnDisk();
    expect(bytes.includes(idHash)).toBe(true);
    expect(bytes.includes(id)).toBe(false);
  });

  it.each([
    ['a directory', async (dir: string) => dir],
    ['a file in a missing directory', async (dir: string) => join(dir, 'missing', 'lapse.db')],
    [
      'a file under a regular file',
      async (dir: string) => {
        await writeFile(join(dir, 'plain'), 'not a directory');
        return join(dir, 'plain', 'lapse.db');
      },
    ],
    [
      'a file of garbage bytes',
      async (dir: string) => {
        const path = join(dir, 'garbage.db');
        await writeFile(path, Buffer.alloc(16_384, 0x5a));
        return path;
      },
    ],
  ])('fails with LAPSE_STORE_UNAVAILABLE for %s, not a crash', async (_, pathIn) => {
    const path = await pathIn(await tempDir());
    const error = await lapseError(() => new SqliteStore({ path, sweepIntervalMs: 0 }));
    expect(error.code).toBe(ErrorCodes.STORE_UNAVAILABLE);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('refuses a file written by a newer lapse', async () => {
    const path = await tempPath();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const error = await lapseError(() => new SqliteStore({ path, sweepIntervalMs: 0 }));
    expect(error.code).toBe(ErrorCodes.STORE_UNAVAILABLE);
  });

  it('fails with LAPSE_STORE_UNAVAILABLE when the write lock stays taken past the busy timeout', async () => {
    const path = await tempPath();
    const store = open({ path });
    const idHash = newIdHash();
    await store.create(idHash, { subject: 'u1' }, STANDARD);
    const holder = new Database(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const error = await lapseError(() => store.access(idHash, 'touch', STANDARD));
      expect(error.code).toBe(ErrorCodes.STORE_UNAVAILABLE);
      expect(error.cause).toMatchObject({ code: 'SQLITE_BUSY' });
      // A read needs no lock: the last committed state is still there.
      expectActive(await store.access(idHash, 'peek', STANDARD));
      expect((await store.list()).records.map((record) => record.idHash)).toEqual([idHash]);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expectActive(await store.access(idHash, 'touch', STANDARD));
  }, 15_000);

  it('writes nothing for a peek that changes nothing, a get, an idle sweep or a list', async () => {
    const path = await tempPath();
    const clock = new ManualClock(START);
    const store = open({ path, clock });
    const idHash = newIdHash();
    await store.create(idHash, { subject: 'u1' }, IDLE_1M);
    const observer = new Database(path, { readonly: true });
    try {
      const version = () => observer.pragma('data_version', { simple: true });
      const before = version();
      clock.advance(SECOND);
      expectActive(await store.access(idHash, 'peek', IDLE_1M));
      await store.get(idHash);
      expect(await store.sweep()).toEqual([]);
      clock.advance(MINUTE);
      // A page over a session past its deadline, not yet swept: still no write.
      expect((await store.list({ state: 'ended' })).records).toHaveLength(1);
      expect(version()).toBe(before);
      await store.access(idHash, 'touch', IDLE_1M);
      expect(version()).not.toBe(before);
    } finally {
      observer.close();
    }
  });

  it('rejects with LAPSE_STORE_UNAVAILABLE after close, and closes twice quietly', async () => {
    const store = open({ path: ':memory:' });
    await store.close();
    await store.close();
    for (const call of [
      () => store.now(),
      () => store.create(newIdHash(), { subject: 'u1' }, STANDARD),
      () => store.access(newIdHash(), 'peek', STANDARD),
      () => store.revoke(newIdHash(), 'logout'),
      () => store.revokeSubject('u1', 'admin'),
      () => store.rotate(newIdHash(), newIdHash(), {}),
      () => store.get(newIdHash()),
      () => store.sweep(),
      () => store.list(),
    ]) {
      expect((await lapseError(call)).code).toBe(ErrorCodes.STORE_UNAVAILABLE);
    }
  });

  it("passes a policy resolver's own error through and rolls the step back", async () => {
    const clock = new ManualClock(START);
    const store = open({ path: ':memory:', clock });
    const idHash = newIdHash();
    const { record } = await store.create(idHash, { subject: 'u1' }, STANDARD);
    const broken: PolicyResolver = {
      resolve: () => {
        throw new RangeError('policy bug');
      },
    };
    clock.advance(SECOND);
    await expect(store.access(idHash, 'touch', broken)).rejects.toThrow(RangeError);
    expect(await store.get(idHash)).toEqual(record);
  });
});

describe('SqliteStore sweep', () => {
  it('ends more sessions than one batch holds, each once, and leaves the rest', async () => {
    const clock = new ManualClock(START);
    const store = open({ path: await tempPath(), clock });
    const heard: string[] = [];
    store.onExpire((record) => heard.push(record.idHash));
    const due: string[] = [];
    for (let i = 0; i < 1_234; i++) {
      const idHash = newIdHash();
      due.push(idHash);
      await store.create(idHash, { subject: `u${i}` }, IDLE_1M);
    }
    const later = newIdHash();
    await store.create(later, { subject: 'later' }, STANDARD);
    clock.advance(MINUTE);
    const swept = await store.sweep();
    expect(swept.map((record) => record.idHash).sort()).toEqual([...due].sort());
    expect([...heard].sort()).toEqual([...due].sort());
    expect(await store.sweep()).toEqual([]);
    expectActive(await store.access(later, 'peek', STANDARD));
  });

  it('sweeps on its own with a real short interval, unref-ed, and reports a throwing listener', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clock = new ManualClock(START);
    const store = open({ path: await tempPath(), clock, sweepIntervalMs: 5 });
    const timer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    const heard: SessionRecord[] = [];
    store.onExpire(() => {
      throw new Error('listener failure');
    });
    store.onExpire((record) => heard.push(record));
    const idHash = newIdHash();
    await store.create(idHash, { subject: 'u1' }, IDLE_1M);
    clock.advance(MINUTE);
    await vi.waitFor(() => expect(heard.map((record) => record.idHash)).toEqual([idHash]), {
      timeout: 5_000,
      interval: 5,
    });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('listener failure'), 'LapseWarning');
  });
});

describe('SqliteStore revocation feed', () => {
  it('polls only while someone listens, on an unref-ed timer', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    const store = open({ path: ':memory:' });
    expect(setIntervalSpy).not.toHaveBeenCalled();
    const stop = store.onRevoke(() => undefined);
    expect(setIntervalSpy).toHaveBeenCalledTimes(1);
    const timer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    stop();
    expect(clearIntervalSpy).toHaveBeenCalledWith(timer);
  });

  it('tells a listener only of revocations after it subscribed, each once, to every instance', async () => {
    const path = await tempPath();
    const a = open({ path, revokePollMs: 10 });
    const b = open({ path, revokePollMs: 10 });
    const old = newIdHash();
    await a.create(old, { subject: 'old' }, STANDARD);
    await a.revoke(old, 'logout');
    const heardA: RevokeNotice[] = [];
    const heardB: RevokeNotice[] = [];
    a.onRevoke((notice) => heardA.push(notice));
    b.onRevoke((notice) => heardB.push(notice));
    const [first, second, third] = [newIdHash(), newIdHash(), newIdHash()];
    for (const idHash of [first, second, third]) {
      await a.create(idHash, { subject: 'u1' }, STANDARD);
    }
    await a.revoke(first, 'logout');
    await b.revokeSubject('u1', 'disabled');
    // Own revocations are told at once; the other instance's at its next poll.
    expect(heardA.map((notice) => notice.idHash)).toEqual([first]);
    const expected: RevokeNotice[] = [
      { idHash: first, subject: 'u1', reason: 'logout' },
      { idHash: second, subject: 'u1', reason: 'disabled' },
      { idHash: third, subject: 'u1', reason: 'disabled' },
    ];
    const byId = (x: RevokeNotice, y: RevokeNotice) => x.idHash.localeCompare(y.idHash);
    await vi.waitFor(() => expect([...heardA].sort(byId)).toEqual([...expected].sort(byId)));
    await vi.waitFor(() => expect([...heardB].sort(byId)).toEqual([...expected].sort(byId)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(heardA).toHaveLength(3);
    expect(heardB).toHaveLength(3);
  });

  it('tells nothing twice when a listener subscribes another while being told', async () => {
    const store = open({ path: ':memory:' });
    const heard: string[] = [];
    store.onRevoke((notice) => {
      heard.push(`first:${notice.idHash}`);
      store.onRevoke((late) => heard.push(`late:${late.idHash}`));
    });
    const ids = [newIdHash(), newIdHash()];
    for (const idHash of ids) await store.create(idHash, { subject: 'u1' }, STANDARD);
    await store.revokeSubject('u1', 'disabled');
    expect(heard.filter((entry) => entry.startsWith('first:'))).toHaveLength(2);
    expect(new Set(heard).size).toBe(heard.length);
  });

  it('prunes log entries older than a minute of wall-clock time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const path = await tempPath();
    const store = open({ path });
    const ids = [newIdHash(), newIdHash()];
    for (const idHash of ids) await store.create(idHash, { subject: 'u1' }, STANDARD);
    await store.revoke(ids[0] as string, 'logout');
    vi.advanceTimersByTime(61 * SECOND);
    await store.revoke(ids[1] as string, 'logout');
    const raw = new Database(path, { readonly: true });
    try {
      const rows = raw.prepare('SELECT id_hash FROM revocations').pluck().all();
      expect(rows).toEqual([ids[1]]);
    } finally {
      raw.close();
    }
  });
});

describe('SqliteStore instances on one file', () => {
  it('ends revoked, with lastActivityAt never going backwards, under 50 parallel touches and a revoke', async () => {
    const path = await tempPath();
    const clock = new ManualClock(START);
    const a = open({ path, clock });
    const b = open({ path, clock });
    const idHash = newIdHash();
    await a.create(idHash, { subject: 'u1' }, STANDARD);
    const touches: Promise<AccessResult>[] = [];
    const revokes: Promise<RevokeResult>[] = [];
    for (let i = 0; i < 50; i++) {
      if (i === 30) revokes.push(b.revoke(idHash, 'logout'));
      touches.push((i % 2 === 0 ? a : b).access(idHash, 'touch', STANDARD));
      clock.advance(SECOND);
    }
    const [results, [revoked]] = await Promise.all([Promise.all(touches), Promise.all(revokes)]);
    expect(revoked?.outcome).toBe('ended');
    // In call order: active with lastActivityAt never going back, then revoked for good.
    let previous = Number.NEGATIVE_INFINITY;
    let isRevoked = false;
    for (const result of results) {
      if (result.outcome === 'active') {
        expect(isRevoked).toBe(false);
        expect(result.record.lastActivityAt).toBeGreaterThanOrEqual(previous);
        previous = result.record.lastActivityAt;
      } else {
        isRevoked = true;
        expect(result).toMatchObject({ outcome: 'ended', reason: 'revoked' });
      }
    }
    expect(isRevoked).toBe(true);
    const final = await a.get(idHash);
    expect(final).toMatchObject({ endReason: 'revoked', revokeReason: 'logout' });
    expect(final?.lastActivityAt).toBe(previous);
    expect(await b.get(idHash)).toEqual(final);
  });
});

interface ChildRun {
  readonly process: ChildProcess;
  /** Resolves when the child has opened the store. */
  readonly ready: Promise<void>;
  /** Resolves with the child's final JSON line once it exits cleanly. */
  readonly result: Promise<unknown>;
}

/** Run test/fixtures/sqlite-child.mjs: another process on the same file, through the built package. */
function runChild(...args: string[]): ChildRun {
  const proc = spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  proc.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('ready\n')) markReady();
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const result = new Promise<unknown>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (code) => {
      markReady();
      const lines = stdout.trim().split('\n');
      if (code !== 0 || lines[0] !== 'ready' || lines.length < 2) {
        reject(new Error(`child exited with ${code}: ${stderr || stdout}`));
      } else {
        resolve(JSON.parse(lines[lines.length - 1] as string));
      }
    });
  });
  return { process: proc, ready, result };
}

describe('SqliteStore across processes', () => {
  beforeAll(() => {
    if (!existsSync(builtEntry)) {
      throw new Error(`${builtEntry} is missing: run npm run build first (npm test does)`);
    }
  });

  it('sees at once, and hears within a second, a revoke another process makes while both touch', async () => {
    const path = await tempPath();
    const store = open({ path, clock: systemClock });
    const idHash = newIdHash();
    await store.create(idHash, { subject: 'u7' }, STANDARD);
    const heard: RevokeNotice[] = [];
    store.onRevoke((notice) => heard.push(notice));
    const run = runChild('touch-revoke', path, idHash, '200');
    let isDone = false;
    const done = () => {
      isDone = true;
    };
    void run.result.then(done, done);
    await run.ready;
    const mine: AccessResult[] = [];
    while (!isDone) {
      mine.push(await store.access(idHash, 'touch', STANDARD));
      await yieldToEventLoop();
    }
    const theirs = (await run.result) as Array<{
      outcome?: string;
      reason?: string;
      revoke?: string;
      lastActivityAt?: number;
    }>;
    // The child's view: active, its own revoke, then revoked for good.
    const revokeAt = theirs.findIndex((entry) => entry.revoke !== undefined);
    expect(theirs[revokeAt]?.revoke).toBe('ended');
    expect(theirs.slice(0, revokeAt).every((entry) => entry.outcome === 'active')).toBe(true);
    expect(
      theirs
        .slice(revokeAt + 1)
        .every((entry) => entry.outcome === 'ended' && entry.reason === 'revoked'),
    ).toBe(true);
    // This process's view: never backwards, never active after it first saw the revoke.
    let previous = Number.NEGATIVE_INFINITY;
    let isRevoked = false;
    for (const result of mine) {
      if (result.outcome === 'active') {
        expect(isRevoked).toBe(false);
        expect(result.record.lastActivityAt).toBeGreaterThanOrEqual(previous);
        previous = result.record.lastActivityAt;
      } else {
        isRevoked = true;
        expect(result).toMatchObject({ outcome: 'ended', reason: 'revoked' });
      }
    }
    expect((await store.access(idHash, 'touch', STANDARD)).outcome).toBe('ended');
    expect(await store.get(idHash)).toMatchObject({ endReason: 'revoked', revokeReason: 'child' });
    await vi.waitFor(() => expect(heard).toEqual([{ idHash, subject: 'u7', reason: 'child' }]), {
      timeout: 1_000,
    });
  });

  it('tells each expiry exactly once when two processes sweep the same file', async () => {
    const path = await tempPath();
    const store = open({ path, clock: systemClock });
    const run = runChild('sweep', path, '1500');
    await run.ready;
    const idle = timeouts(200);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const idHash = newIdHash();
      ids.push(idHash);
      await store.create(idHash, { subject: `u${i}` }, idle);
    }
    const mine: string[] = [];
    store.onExpire((record) => mine.push(record.idHash));
    let isDone = false;
    const done = () => {
      isDone = true;
    };
    void run.result.then(done, done);
    while (!isDone) {
      await store.sweep();
      await yieldToEventLoop();
    }
    const theirs = (await run.result) as string[];
    // On a loaded machine the last sessions may expire only after the child has stopped.
    await vi.waitFor(
      async () => {
        await store.sweep();
        expect(mine.length + theirs.length).toBeGreaterThanOrEqual(ids.length);
      },
      { timeout: 5_000 },
    );
    expect([...mine, ...theirs].sort()).toEqual([...ids].sort());
    for (const idHash of ids) expect((await store.get(idHash))?.endReason).toBe('idle');
  });
});
