import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, LapseError } from '../errors.js';
import { CompiledPolicy } from '../policy/compiled-policy.js';
import type { Policy } from '../policy/types.js';
import { type Clock, ManualClock } from '../session/clock.js';
import type { PolicyResolver } from '../session/decide.js';
import type { SessionRecord } from '../session/types.js';
import { MemoryStore, type MemoryStoreOptions } from './memory-store.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const START = Date.UTC(2025, 0, 1, 9, 0, 0);

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

const IDLE_1M = timeouts(MINUTE);
const IDLE_1H = timeouts(HOUR);

const opened: MemoryStore[] = [];

function open(options: MemoryStoreOptions = {}): { store: MemoryStore; clock: ManualClock } {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0, ...options });
  opened.push(store);
  return { store, clock };
}

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

function optionError(options: unknown): LapseError & { option?: string } {
  try {
    new MemoryStore(options as MemoryStoreOptions);
  } catch (error) {
    if (error instanceof LapseError) return error;
    throw error;
  }
  throw new Error('expected the constructor to throw');
}

describe('MemoryStore options', () => {
  it.each([
    ['retainEndedMs', { retainEndedMs: -1 }],
    ['retainEndedMs', { retainEndedMs: 1.5 }],
    ['retainEndedMs', { retainEndedMs: Number.POSITIVE_INFINITY }],
    ['retainEndedMs', { retainEndedMs: '1000' }],
    ['sweepIntervalMs', { sweepIntervalMs: -1 }],
    ['sweepIntervalMs', { sweepIntervalMs: 2 ** 31 }],
    ['sweepIntervalMs', { sweepIntervalMs: Number.NaN }],
    ['bucketMs', { bucketMs: 0 }],
    ['bucketMs', { bucketMs: 0.5 }],
    ['clock', { clock: {} }],
    ['clock', { clock: Date.now }],
    ['retainMs', { retainMs: 1000 }],
    ['sweepEveryMs', { sweepEveryMs: 1000 }],
    ['options', null],
    ['options', [1000]],
  ])('rejects a bad %s (%j) with LAPSE_OPTION_INVALID naming the option', (option, options) => {
    const error = optionError(options);
    expect(error.code).toBe(ErrorCodes.OPTION_INVALID);
    expect(error.option).toBe(option);
  });

  it('fills the defaults and freezes the validated options', () => {
    const store = new MemoryStore({ sweepIntervalMs: 0 });
    opened.push(store);
    expect(store.options).toMatchObject({
      retainEndedMs: 24 * HOUR,
      sweepIntervalMs: 0,
      bucketMs: 1000,
    });
    expect(Object.isFrozen(store.options)).toBe(true);
  });

  it('accepts retainEndedMs 0 and a sweep interval of 0 (no timer)', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const store = new MemoryStore({ retainEndedMs: 0, sweepIntervalMs: 0 });
    opened.push(store);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('MemoryStore sweep', () => {
  it('does not visit buckets that are not due', async () => {
    const { store, clock } = open();
    for (let i = 0; i < 10_000; i++) {
      await store.create(`far-${i}`, { subject: `u${i}` }, IDLE_1H);
    }
    await store.create('soon', { subject: 'soon' }, IDLE_1M);
    clock.advance(MINUTE);
    const swept = await store.sweep();
    expect(swept.map((record) => record.idHash)).toEqual(['soon']);
    expect(store.stats().lastSweep).toMatchObject({ recordsVisited: 1, ended: 1 });
    // A jump of many empty buckets is handled without walking them one by one.
    clock.advance(30 * MINUTE);
    expect(await store.sweep()).toEqual([]);
    expect(store.stats().lastSweep.recordsVisited).toBe(0);
    clock.advance(28 * MINUTE);
    expect(await store.sweep()).toEqual([]);
    expect(store.stats().lastSweep.recordsVisited).toBe(0);
    clock.advance(MINUTE);
    expect(await store.sweep()).toHaveLength(10_000);
    expect(store.stats().lastSweep.recordsVisited).toBe(10_000);
  });

  it('moves nothing between buckets when a touch pushes a deadline out', async () => {
    const { store, clock } = open();
    await store.create('a', { subject: 'a' }, IDLE_1M);
    const buckets = store.stats().buckets;
    for (let i = 0; i < 10; i++) {
      clock.advance(30_000);
      await store.access('a', 'touch', IDLE_1M);
    }
    expect(store.stats().buckets).toBe(buckets);
    // The sweep meets it at its first deadline, finds it not due, and moves it on.
    expect(await store.sweep()).toEqual([]);
    expect(store.stats().lastSweep).toMatchObject({ recordsVisited: 1, ended: 0 });
    expect(await store.sweep()).toEqual([]);
    expect(store.stats().lastSweep.recordsVisited).toBe(0);
  });

  it('still ends due sessions when the clock has stepped back', async () => {
    const { store, clock } = open();
    await store.sweep();
    clock.advance(-10_000);
    await store.create('early', { subject: 'e' }, timeouts(2_000));
    clock.advance(2_000);
    const swept = await store.sweep();
    expect(swept.map((record) => record.idHash)).toEqual(['early']);
  });

  it('reports a throwing listener as a process warning and keeps going', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { store, clock } = open();
    const heard: string[] = [];
    store.onExpire(() => {
      throw new Error('boom');
    });
    store.onExpire((record) => heard.push(record.idHash));
    await store.create('a', { subject: 'a' }, IDLE_1M);
    await store.create('b', { subject: 'b' }, IDLE_1M);
    clock.advance(MINUTE);
    expect(await store.sweep()).toHaveLength(2);
    expect(heard.sort()).toEqual(['a', 'b']);
    expect(warn).toHaveBeenCalledTimes(2);
  });

  it('calls a listener registered twice twice, and each stop removes one registration', async () => {
    const { store, clock } = open();
    const heard: string[] = [];
    const listener = (record: SessionRecord) => heard.push(record.idHash);
    const stopFirst = store.onExpire(listener);
    store.onExpire(listener);
    await store.create('a', { subject: 'a' }, IDLE_1M);
    clock.advance(MINUTE);
    await store.sweep();
    expect(heard).toEqual(['a', 'a']);
    stopFirst();
    await store.create('b', { subject: 'b' }, IDLE_1M);
    clock.advance(MINUTE);
    await store.sweep();
    expect(heard).toEqual(['a', 'a', 'b']);
  });
});

describe('MemoryStore timer', () => {
  it('sweeps on its own with a real short interval, unref-ed', async () => {
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clock = new ManualClock(START);
    const store = new MemoryStore({ clock, sweepIntervalMs: 5 });
    opened.push(store);
    const timer = setIntervalSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    const heard: SessionRecord[] = [];
    store.onExpire((record) => heard.push(record));
    await store.create('a', { subject: 'a' }, IDLE_1M);
    clock.advance(MINUTE);
    await vi.waitFor(() => expect(heard.map((record) => record.idHash)).toEqual(['a']), {
      timeout: 5_000,
      interval: 5,
    });
  });

  it('stops the timer on close', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let reads = 0;
    const clock: Clock = {
      now: () => {
        reads++;
        return START;
      },
    };
    const store = new MemoryStore({ clock, sweepIntervalMs: 1000 });
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(3_000);
    expect(reads).toBe(3);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(reads).toBe(3);
  });

  it('rejects calls after close with LAPSE_STORE_UNAVAILABLE, and closes twice quietly', async () => {
    const { store } = open();
    await store.close();
    await store.close();
    await expect(store.access('a', 'touch', IDLE_1M)).rejects.toMatchObject({
      code: ErrorCodes.STORE_UNAVAILABLE,
    });
    await expect(store.create('a', { subject: 'a' }, IDLE_1M)).rejects.toMatchObject({
      code: ErrorCodes.STORE_UNAVAILABLE,
    });
    await expect(store.sweep()).rejects.toBeInstanceOf(LapseError);
    await expect(store.now()).rejects.toBeInstanceOf(LapseError);
    await expect(store.list()).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
  });
});

describe('MemoryStore list', () => {
  it('pages any keys in JS string order, past the buffer it sorts in', async () => {
    const { store } = open();
    const keys: string[] = [];
    // More than the 4,096 keys gathered before each trim, and keys no hash would be.
    for (let i = 0; i < 5_000; i++) keys.push(`k${(i * 7_919) % 5_000}`);
    keys.push('', 'ä', '日本', '😀', 'a.b', 'Z');
    for (const key of keys) await store.create(key, { subject: `s${key.length % 3}` }, IDLE_1H);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 997, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.records.map((record) => record.idHash));
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual([...keys].sort());
    const firstTen = await store.list({ limit: 10 });
    expect(firstTen.records.map((record) => record.idHash)).toEqual([...keys].sort().slice(0, 10));
  });

  it('reads a subject through its own index, and forgets nothing past purgeAt', async () => {
    const { store, clock } = open({ retainEndedMs: 0 });
    await store.create('a1', { subject: 'alice' }, timeouts(MINUTE, 2 * MINUTE));
    await store.create('a2', { subject: 'alice' }, IDLE_1H);
    await store.create('b1', { subject: 'bob' }, IDLE_1H);
    clock.advance(2 * MINUTE);
    const page = await store.list({ subject: 'alice', state: 'any' });
    expect(page.records.map((record) => record.idHash)).toEqual(['a2']);
    expect((await store.list({ state: 'any' })).records).toHaveLength(2);
    // a1 is past purgeAt: left out of the page, but still held until a sweep or lookup.
    expect(store.stats()).toMatchObject({ records: 3, subjects: 2 });
  });

  it("refuses another store's cursor", async () => {
    const { store } = open();
    await store.create('a', { subject: 'a' }, IDLE_1M);
    await store.create('b', { subject: 'b' }, IDLE_1M);
    const { next } = await store.list({ limit: 1 });
    expect(next).toBe('m.YQ');
    await expect(store.list({ cursor: 's.YQ' })).rejects.toMatchObject({
      code: ErrorCodes.OPTION_INVALID,
      option: 'cursor',
    });
  });
});

describe('MemoryStore retention', () => {
  it('removes the subject index entry, the record and its bucket when it purges', async () => {
    const { store, clock } = open({ retainEndedMs: MINUTE });
    await store.create('a1', { subject: 'alice' }, IDLE_1M);
    await store.create('a2', { subject: 'alice' }, IDLE_1M);
    await store.create('b1', { subject: 'bob' }, IDLE_1H);
    expect(store.stats()).toMatchObject({ records: 3, subjects: 2 });
    clock.advance(MINUTE);
    await store.revoke('b1', 'logout');
    expect(await store.sweep()).toHaveLength(2);
    clock.advance(8 * HOUR + MINUTE);
    await store.sweep();
    expect(store.stats()).toMatchObject({ records: 0, subjects: 0, buckets: 0 });
    expect(await store.revokeSubject('alice', 'admin')).toEqual([]);
  });

  it('forgets a purgeable record on lookup and keeps the subject index right', async () => {
    const { store, clock } = open({ retainEndedMs: 0 });
    await store.create('a1', { subject: 'alice' }, timeouts(MINUTE, 2 * MINUTE));
    await store.create('a2', { subject: 'alice' }, timeouts(MINUTE, 10 * MINUTE));
    clock.advance(2 * MINUTE);
    expect(await store.get('a1')).toBeUndefined();
    expect(store.stats()).toMatchObject({ records: 1, subjects: 1 });
    clock.advance(8 * MINUTE);
    expect((await store.access('a2', 'peek', IDLE_1M)).outcome).toBe('unknown');
    expect(store.stats()).toMatchObject({ records: 0, subjects: 0, buckets: 0 });
  });

  it('reuses the slot of a forgotten record without mixing up records', async () => {
    const { store, clock } = open({ retainEndedMs: 0 });
    await store.create('old', { subject: 'old', roles: ['admin'] }, timeouts(null, MINUTE));
    await store.revoke('old', 'logout');
    clock.advance(MINUTE);
    await store.sweep();
    const created = await store.create('new', { subject: 'new' }, IDLE_1M);
    expect(await store.get('new')).toEqual(created.record);
    expect(await store.get('old')).toBeUndefined();
    expect((await store.get('new'))?.revokeReason).toBeUndefined();
  });
});

describe('MemoryStore memory sharing', () => {
  it('shares one frozen role array between equal role lists and one empty attrs object', async () => {
    const { store } = open();
    const a = await store.create('a', { subject: 'a', roles: ['admin', 'dev'] }, IDLE_1M);
    const b = await store.create('b', { subject: 'b', roles: ['admin', 'dev'] }, IDLE_1M);
    const c = await store.create('c', { subject: 'c', attrs: {} }, IDLE_1M);
    expect(a.record.roles).toBe(b.record.roles);
    expect(Object.isFrozen(a.record.roles)).toBe(true);
    expect(a.record.attrs).toBe(c.record.attrs);
    expect(Object.isFrozen(a.record.attrs)).toBe(true);
    expect((await store.get('a'))?.roles).toBe((await store.get('b'))?.roles);
  });

  it('copies roles and attrs, so changing the caller objects changes no stored record', async () => {
    const { store } = open();
    const roles = ['dev'];
    const attrs: Record<string, string> = { tenant: 't1' };
    await store.create('a', { subject: 'a', roles, attrs }, IDLE_1M);
    roles.push('admin');
    attrs.tenant = 't2';
    expect(await store.get('a')).toMatchObject({ roles: ['dev'], attrs: { tenant: 't1' } });
  });

  it('hands out copies: changing a returned record changes nothing stored', async () => {
    const { store } = open();
    const { record } = await store.create('a', { subject: 'a' }, IDLE_1M);
    (record as { lastActivityAt: number }).lastActivityAt = 0;
    const got = await store.get('a');
    (got as { subject: string }).subject = 'mallory';
    expect(await store.get('a')).toMatchObject({ subject: 'a', lastActivityAt: START });
  });
});
