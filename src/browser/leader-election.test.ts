import { describe, expect, it, vi } from 'vitest';
import { electLeader, type LeaderEvent } from './leader-election.js';

/** A LockManager for one origin: one holder, the rest wait in order; abort leaves the queue. */
function fakeLocks(): Pick<LockManager, 'request'> {
  const waiting: Array<() => void> = [];
  let isHeld = false;
  const next = (): void => {
    if (!isHeld) waiting.shift()?.();
  };
  return {
    request: ((_name: string, options: LockOptions, callback: () => unknown) =>
      new Promise<unknown>((resolve, reject) => {
        const grant = (): void => {
          isHeld = true;
          Promise.resolve(callback())
            .then(resolve, reject)
            .finally(() => {
              isHeld = false;
              next();
            });
        };
        options.signal?.addEventListener('abort', () => {
          const at = waiting.indexOf(grant);
          if (at >= 0) {
            waiting.splice(at, 1);
            reject(new DOMException('aborted', 'AbortError'));
          }
        });
        waiting.push(grant);
        next();
      })) as LockManager['request'],
  };
}

/** One clock for the device; each tab its own timers, which a frozen tab does not run. */
function device() {
  let now = 1_000_000;
  const storage = new Map<string, string>();
  const localStorage = {
    getItem: (key: string) => storage.get(key) ?? null,
    setItem: (key: string, value: string) => void storage.set(key, value),
    removeItem: (key: string) => void storage.delete(key),
  } as unknown as Storage;
  const tabs: Array<{ tasks: Array<{ at: number; run: () => void }>; isFrozen: boolean }> = [];
  return {
    storage,
    now: () => now,
    openTab() {
      const tab = { tasks: [] as Array<{ at: number; run: () => void }>, isFrozen: false };
      tabs.push(tab);
      const events: LeaderEvent[] = [];
      const election = electLeader(
        { localStorage },
        null,
        () => now,
        (run, ms) => {
          const task = { at: now + ms, run };
          tab.tasks.push(task);
          return task;
        },
        (task) => {
          tab.tasks = tab.tasks.filter((t) => t !== task);
        },
      );
      election.listen((event) => events.push(event));
      return {
        election,
        events,
        freeze: () => {
          tab.isFrozen = true;
        },
        thaw: () => {
          tab.isFrozen = false;
        },
      };
    },
    /** Moves the clock on in 100 ms steps, running the due timers of the tabs that are not frozen. */
    advance(ms: number) {
      for (const end = now + ms; now < end; ) {
        now = Math.min(end, now + 100);
        for (const tab of tabs) {
          if (tab.isFrozen) continue;
          const due = tab.tasks.filter((task) => task.at <= now);
          tab.tasks = tab.tasks.filter((task) => task.at > now);
          for (const task of due) task.run();
        }
      }
    },
  };
}

describe('electLeader with Web Locks', () => {
  it('makes the first tab the leader and hands over when it goes', async () => {
    const locks = fakeLocks();
    const a = electLeader({}, locks);
    const b = electLeader({}, locks);
    const bEvents: LeaderEvent[] = [];
    b.listen((event) => bEvents.push(event));
    await vi.waitFor(() => expect(a.isLeader).toBe(true));
    expect(b.isLeader).toBe(false);
    a.stop(); // the tab is closed or discarded: the browser releases its lock
    await vi.waitFor(() => expect(b.isLeader).toBe(true));
    expect(a.isLeader).toBe(false);
    expect(bEvents).toEqual(['becameLeader']);
  });

  it('leaves the queue when stopped before it led', async () => {
    const locks = fakeLocks();
    const a = electLeader({}, locks);
    const b = electLeader({}, locks);
    const c = electLeader({}, locks);
    await vi.waitFor(() => expect(a.isLeader).toBe(true));
    b.stop();
    a.stop();
    await vi.waitFor(() => expect(c.isLeader).toBe(true));
    expect(b.isLeader).toBe(false);
  });

  it('falls back to the lease when Web Locks refuse (an opaque origin)', async () => {
    const locks = { request: () => Promise.reject(new DOMException('no', 'SecurityError')) };
    const setItem = vi.fn();
    const election = electLeader(
      { localStorage: { getItem: () => null, setItem } as unknown as Storage },
      locks as unknown as LockManager,
    );
    await vi.waitFor(() => expect(election.isLeader).toBe(true));
    expect(setItem).toHaveBeenCalledWith('lapse:leader', expect.stringContaining('"until"'));
    election.stop();
  });
});

describe('electLeader with the localStorage lease', () => {
  it('has exactly one leader, which keeps renewing its lease', () => {
    const d = device();
    const a = d.openTab();
    const b = d.openTab();
    expect(a.election.isLeader).toBe(true);
    expect(b.election.isLeader).toBe(false);
    d.advance(60_000);
    expect(a.election.isLeader).toBe(true);
    expect(b.election.isLeader).toBe(false);
    expect(JSON.parse(d.storage.get('lapse:leader') as string).until).toBeGreaterThan(d.now());
  });

  it('lets a follower take a stale lease from a frozen leader, which steps down when it thaws', () => {
    const d = device();
    const a = d.openTab();
    const b = d.openTab();
    a.freeze();
    d.advance(4_000);
    expect(b.election.isLeader).toBe(false); // the lease (5 s) is not stale yet
    d.advance(4_000);
    expect(b.election.isLeader).toBe(true);
    expect(b.events).toEqual(['becameLeader']);
    a.thaw();
    d.advance(2_100);
    expect(a.election.isLeader).toBe(false);
    expect(a.events).toEqual(['lostLeader']); // it led from the start (before anyone listened)
    expect(b.election.isLeader).toBe(true);
  });

  it('hands over within the lease time when the leader leaves', () => {
    const d = device();
    const a = d.openTab();
    const b = d.openTab();
    a.election.stop();
    expect(a.events).toEqual(['lostLeader']); // it led from the start (before anyone listened)
    d.advance(7_100);
    expect(b.election.isLeader).toBe(true);
  });

  it('takes over an unreadable lease', () => {
    const d = device();
    d.storage.set('lapse:leader', '{oops');
    expect(d.openTab().election.isLeader).toBe(true);
  });

  it('leads alone where storage is blocked', () => {
    const blocked = {
      get localStorage(): Storage {
        throw new DOMException('blocked', 'SecurityError');
      },
    };
    const election = electLeader(
      blocked,
      null,
      Date.now,
      () => 0,
      () => {},
    );
    expect(election.isLeader).toBe(true);
  });
});
