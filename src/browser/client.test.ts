import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLapseClient, type FetchResponseLike, type LapseClientOptions } from './client.js';
import { FakeEventTarget } from './fake-event-target.test-helpers.js';
import type { LeaderElection } from './leader-election.js';
import type { TabChannel, TabMessage } from './tab-channel.js';
import type { LapseSnapshot, StatusBody } from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const T0 = Date.UTC(2030, 0, 15, 9, 0, 0);
const ORIGIN = 'https://app.example';

function memoryStorage(): Storage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (key: string) => data.get(key) ?? null,
    setItem: (key: string, value: string) => void data.set(key, value),
    removeItem: (key: string) => void data.delete(key),
  } as unknown as Storage & { data: Map<string, string> };
}

/**
 * The server side of one session, as SPEC section 4 has it: status reads are
 * passive, extend touches, deadlines are half-open, a rejection clears the
 * cookie (so the next request says `missing`). Its clock is the test's wall
 * clock plus `offsetMs` (a server with another idea of the time).
 */
class FakeServer {
  idleMs: number | null = 2 * MINUTE;
  absoluteMs = 15 * MINUTE;
  warnMs = 30 * SECOND;
  offsetMs = 0;
  createdAt = 0;
  lastActivityAt = 0;
  endReason: string | undefined;
  isCookieCleared = false;
  refuseLogout = false;
  readonly requests: Array<{
    tab: string;
    method: string;
    path: string;
    at: number;
    headers: unknown;
  }> = [];

  constructor(
    options: Partial<Pick<FakeServer, 'idleMs' | 'absoluteMs' | 'warnMs' | 'offsetMs'>> = {},
  ) {
    Object.assign(this, options);
    this.signIn();
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** A new session (a sign-in): a new cookie. */
  signIn(): void {
    this.createdAt = this.lastActivityAt = this.now();
    this.endReason = undefined;
    this.isCookieCleared = false;
  }

  /** Genuine activity the client does not see: the app's own requests, a WebSocket message. */
  touch(): void {
    this.lastActivityAt = this.now();
  }

  idleExpiresAt(): number | null {
    return this.idleMs === null ? null : this.lastActivityAt + this.idleMs;
  }

  absoluteExpiresAt(): number {
    return this.createdAt + this.absoluteMs;
  }

  body(): StatusBody {
    const now = this.now();
    const idle = this.idleExpiresAt();
    const earliest =
      idle === null ? this.absoluteExpiresAt() : Math.min(idle, this.absoluteExpiresAt());
    const warnAt = earliest - this.warnMs;
    return {
      state: now >= warnAt ? 'warning' : 'active',
      now,
      idleExpiresAt: idle,
      absoluteExpiresAt: this.absoluteExpiresAt(),
      warnAt,
      policy: { idle: this.idleMs, absolute: this.absoluteMs, warn: this.warnMs },
    };
  }

  /** Why the session is over now, if it is. */
  check(): string | undefined {
    if (this.isCookieCleared) return 'missing';
    if (this.endReason) return this.endReason;
    const now = this.now();
    const idle = this.idleExpiresAt();
    if (now >= this.absoluteExpiresAt()) this.endReason = 'absolute';
    else if (idle !== null && now >= idle) this.endReason = 'idle';
    return this.endReason;
  }

  fetchFor(tab: string) {
    return async (url: string, init: RequestInit): Promise<FetchResponseLike> => {
      const method = init.method ?? 'GET';
      this.requests.push({ tab, method, path: url, at: Date.now() - T0, headers: init.headers });
      const reply = (status: number, body: unknown): FetchResponseLike => ({
        status,
        json: async () => body,
      });
      if (url === '/_lapse/logout') {
        if (this.refuseLogout) return reply(403, { error: 'forbidden' });
        this.endReason = 'revoked';
        this.isCookieCleared = true;
        return reply(200, { ok: true });
      }
      const reason = this.check();
      if (reason) {
        this.isCookieCleared = true;
        return reply(401, { error: 'session_expired', reason });
      }
      if (url === '/_lapse/extend') this.touch();
      return reply(200, this.body());
    };
  }

  posts(path = '/_lapse/extend') {
    return this.requests.filter((request) => request.method === 'POST' && request.path === path);
  }
}

/** Same-origin tabs on one device: one wall clock, one channel, one lock manager. */
class Device {
  /** Wall-clock time that passed while the device slept: the monotonic clock did not see it. */
  sleptMs = 0;
  readonly log: string[] = [];
  readonly #members = new Set<(message: TabMessage) => void>();
  readonly #waiting: Array<() => void> = [];
  #isLockHeld = false;

  readonly monotonicNow = (): number => Date.now() - T0 - this.sleptMs;

  /** Sleep: the wall clock jumps, the monotonic clock and the timers do not move. */
  sleep(ms: number): void {
    this.sleptMs += ms;
    vi.setSystemTime(Date.now() + ms);
  }

  channel = (): TabChannel => {
    let listener: (message: TabMessage) => void = () => {};
    const receive = (message: TabMessage) => listener(message);
    this.#members.add(receive);
    return {
      post: (message) => {
        for (const member of this.#members) {
          if (member !== receive) queueMicrotask(() => member(structuredClone(message)));
        }
      },
      listen: (next) => {
        listener = next;
      },
      close: () => this.#members.delete(receive),
    };
  };

  locks: Pick<LockManager, 'request'> = {
    request: ((_name: string, options: LockOptions, callback: () => unknown) =>
      new Promise<unknown>((resolve, reject) => {
        const grant = (): void => {
          this.#isLockHeld = true;
          Promise.resolve(callback())
            .then(resolve, reject)
            .finally(() => {
              this.#isLockHeld = false;
              if (!this.#isLockHeld) this.#waiting.shift()?.();
            });
        };
        options.signal?.addEventListener('abort', () => {
          const at = this.#waiting.indexOf(grant);
          if (at >= 0) {
            this.#waiting.splice(at, 1);
            reject(new DOMException('aborted', 'AbortError'));
          }
        });
        this.#waiting.push(grant);
        if (!this.#isLockHeld) this.#waiting.shift()?.();
      })) as LockManager['request'],
  };
}

interface TabOptions {
  name?: string;
  path?: string;
  search?: string;
  sessionStorage?: Storage;
  fields?: unknown[];
  start?: boolean;
  options?: Partial<LapseClientOptions>;
}

function openTab(device: Device, server: FakeServer, tabOptions: TabOptions = {}) {
  const { name = 'A', path = '/form', search = '' } = tabOptions;
  const fields = tabOptions.fields ?? [];
  const document = Object.assign(new FakeEventTarget(), {
    visibilityState: 'visible',
    readyState: 'complete',
    forms: [],
    querySelectorAll: () => fields,
  });
  const location = {
    pathname: path,
    search,
    href: `${ORIGIN}${path}${search}`,
    origin: ORIGIN,
    assign: vi.fn((url: string) => device.log.push(`${name} goes to ${url}`)),
  };
  const window = Object.assign(new FakeEventTarget(), {
    document,
    location,
    sessionStorage: tabOptions.sessionStorage ?? memoryStorage(),
    navigator: { locks: device.locks },
  });
  const fetch = server.fetchFor(name);
  const client = createLapseClient({
    window: window as unknown as Window,
    document: document as unknown as Document,
    fetch: async (url, init) => {
      device.log.push(`${name} ${init.method} ${url}`);
      return fetch(url, init);
    },
    monotonicNow: device.monotonicNow,
    channel: device.channel,
    ...tabOptions.options,
  });
  const seen: Array<{ snapshot: LapseSnapshot; at: number }> = [];
  client.subscribe((snapshot) => {
    seen.push({ snapshot, at: Date.now() });
    device.log.push(
      `${name} ${snapshot.phase}${snapshot.endReason ? ` ${snapshot.endReason}` : ''}`,
    );
  });
  if (tabOptions.start !== false) client.start();
  return {
    client,
    window,
    document,
    location,
    seen,
    phases: () => seen.map((entry) => entry.snapshot.phase),
    /** The person does something in this tab. */
    act: () => document.dispatch('pointerdown'),
  };
}

/** Lets timers and promises run for `ms` of fake time. */
const wait = (ms = 0) => vi.advanceTimersByTimeAsync(ms);
/** Runs to `ms` after T0. */
const runTo = (ms: number) => wait(T0 + ms - Date.now());

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createLapseClient: start', () => {
  it('reads the passive status (never extend) and shows the server deadlines', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await wait();
    expect(server.requests).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/_lapse/status',
        headers: expect.objectContaining({ Accept: 'application/json' }),
      }),
    ]);
    expect(tab.client.snapshot).toEqual({
      phase: 'active',
      remainingSeconds: 120,
      endsBy: 'idle',
      endsAt: T0 + 2 * MINUTE,
      absoluteExpiresAt: T0 + 15 * MINUTE,
      canExtend: false,
    });
  });

  it('uses the base path for every endpoint', async () => {
    const server = new FakeServer();
    const seenUrls: string[] = [];
    const fetch = server.fetchFor('A');
    openTab(new Device(), server, {
      options: {
        basePath: '/app',
        fetch: (url, init) => {
          seenUrls.push(url);
          return fetch(url.replace('/app', ''), init);
        },
      },
    });
    await wait();
    expect(seenUrls).toEqual(['/app/_lapse/status']);
  });

  it('goes to the login page with the reason when the session is already over', async () => {
    const server = new FakeServer();
    server.endReason = 'idle';
    const tab = openTab(new Device(), server, { path: '/form', search: '?id=7' });
    await wait();
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
    expect(tab.location.assign).toHaveBeenCalledWith(
      '/login?reason=idle&return_to=%2Fform%3Fid%3D7',
    );
  });

  it('stays on the login page, and on a page that never had a session', async () => {
    const server = new FakeServer();
    server.isCookieCleared = true; // 401 missing
    const login = openTab(new Device(), server, { path: '/login' });
    const publicPage = openTab(new Device(), server, { path: '/about' });
    await wait();
    expect(login.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'missing' });
    expect(publicPage.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'missing' });
    expect(login.location.assign).not.toHaveBeenCalled();
    expect(publicPage.location.assign).not.toHaveBeenCalled();

    server.isCookieCleared = false;
    server.endReason = 'revoked';
    const loginAgain = openTab(new Device(), server, { path: '/login' });
    await wait();
    expect(loginAgain.client.snapshot.endReason).toBe('revoked');
    expect(loginAgain.location.assign).not.toHaveBeenCalled();
  });

  it('asks again later when the server cannot be reached at start', async () => {
    const server = new FakeServer();
    let isDown = true;
    const fetch = server.fetchFor('A');
    const tab = openTab(new Device(), server, {
      options: {
        fetch: (url, init) =>
          isDown ? Promise.reject(new TypeError('offline')) : fetch(url, init),
      },
    });
    await wait();
    expect(tab.client.snapshot.phase).toBe('starting');
    isDown = false;
    await wait(10 * SECOND);
    expect(tab.client.snapshot.phase).toBe('active');
  });
});

describe('createLapseClient: deadlines', () => {
  it('warns at warnAt, counts down every second, and ends at the deadline after the server says so', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(90 * SECOND - 1);
    expect(tab.client.snapshot.phase).toBe('active');
    await wait(1);
    expect(tab.client.snapshot).toMatchObject({
      phase: 'warning',
      remainingSeconds: 30,
      canExtend: true,
    });
    const counted = () =>
      tab.seen
        .filter((entry) => entry.snapshot.phase === 'warning')
        .map((entry) => entry.snapshot.remainingSeconds);
    await runTo(120 * SECOND - 1);
    expect(counted()).toEqual([
      30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7,
      6, 5, 4, 3, 2, 1, 0,
    ]);
    expect(tab.location.assign).not.toHaveBeenCalled();
    await wait(1);
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
    expect(tab.location.assign).toHaveBeenCalledWith('/login?reason=idle&return_to=%2Fform');
    expect(server.posts()).toEqual([]); // nobody was there: no heartbeat
  });

  it.each([
    ['ahead', 2 * MINUTE],
    ['behind', -2 * MINUTE],
  ])('shows the same deadlines when the server clock is 2 min %s', async (_, offsetMs) => {
    const server = new FakeServer({ offsetMs });
    const tab = openTab(new Device(), server);
    await wait();
    expect(tab.client.snapshot.endsAt).toBe(T0 + offsetMs + 2 * MINUTE); // the server's clock
    await runTo(90 * SECOND - 1);
    expect(tab.client.snapshot.phase).toBe('active');
    await wait(1);
    expect(tab.client.snapshot).toMatchObject({ phase: 'warning', remainingSeconds: 30 });
    await runTo(120 * SECOND);
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
  });

  it('re-reads the status after a sleep before it shows anything (session over meanwhile)', async () => {
    const device = new Device();
    const server = new FakeServer();
    const tab = openTab(device, server);
    await runTo(30 * SECOND);
    device.log.length = 0;
    device.sleep(10 * MINUTE);
    await wait(10 * SECOND); // the first timer that runs after waking
    expect(device.log).toEqual([
      'A GET /_lapse/status',
      'A ended idle',
      'A goes to /login?reason=idle&return_to=%2Fform',
    ]);
    expect(tab.phases()).not.toContain('warning');
  });

  it('re-reads the status after a sleep before it shows anything (session kept alive meanwhile)', async () => {
    const device = new Device();
    const server = new FakeServer();
    const tab = openTab(device, server);
    await runTo(30 * SECOND);
    device.log.length = 0;
    device.sleep(10 * MINUTE);
    server.touch(); // another device used the session just now
    await wait(10 * SECOND);
    expect(device.log[0]).toBe('A GET /_lapse/status');
    expect(tab.phases().every((phase) => phase === 'active')).toBe(true);
    expect(tab.client.snapshot.remainingSeconds).toBe(110);
  });

  it('notices a wake from sleep on the first activity, without waiting for a timer', async () => {
    const device = new Device();
    const server = new FakeServer();
    const tab = openTab(device, server);
    await runTo(30 * SECOND);
    device.log.length = 0;
    device.sleep(10 * MINUTE);
    tab.act();
    await wait();
    expect(device.log.slice(0, 2)).toEqual(['A GET /_lapse/status', 'A ended idle']);
  });

  it('shows the right phase and time left when every timer runs 40 s late (a throttled tab)', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server, {
      options: { setTimeout: (callback, ms) => setTimeout(callback, ms + 40 * SECOND) },
    });
    await runTo(5 * MINUTE);
    const warnings = tab.seen.filter((entry) => entry.snapshot.phase === 'warning');
    expect(warnings.length).toBeGreaterThan(0);
    for (const { snapshot, at } of tab.seen.filter((entry) => entry.snapshot.phase !== 'ended')) {
      const left = T0 + 2 * MINUTE - at;
      expect(snapshot.remainingSeconds).toBe(Math.floor(left / SECOND));
      expect(snapshot.phase).toBe(left <= 30 * SECOND ? 'warning' : 'active');
    }
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
    // Late, but the expiry was confirmed with the server, never assumed early.
    expect(tab.seen.at(-1)?.at).toBeGreaterThanOrEqual(T0 + 2 * MINUTE);
  });

  it('recomputes when the tab becomes visible, on pageshow and on focus', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server, {
      options: { setTimeout: (callback, ms) => setTimeout(callback, ms + 10 * MINUTE) },
    });
    await wait(); // first status; every timer is now 10 min away
    vi.setSystemTime(T0 + 95 * SECOND);
    tab.document.dispatch('visibilitychange');
    await wait();
    expect(tab.client.snapshot).toMatchObject({ phase: 'warning', remainingSeconds: 25 });
    vi.setSystemTime(T0 + 100 * SECOND);
    tab.window.dispatch('focus');
    expect(tab.client.snapshot.remainingSeconds).toBe(20);
    vi.setSystemTime(T0 + 101 * SECOND);
    tab.window.dispatch('pageshow', { persisted: false });
    expect(tab.client.snapshot.remainingSeconds).toBe(19);
  });

  it('re-reads the status when the page comes back from the back/forward cache', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await wait();
    tab.window.dispatch('pageshow', { persisted: true });
    await wait();
    expect(server.requests.map((request) => request.method)).toEqual(['GET', 'GET']);
  });
});

describe('createLapseClient: confirming an expiry', () => {
  it('adopts new deadlines when the server says the session lives (another device extended it)', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(100 * SECOND);
    expect(tab.client.snapshot.phase).toBe('warning');
    server.touch(); // the client cannot know
    await runTo(120 * SECOND);
    expect(tab.client.snapshot).toMatchObject({ phase: 'active', endsAt: T0 + 220 * SECOND });
    expect(tab.phases()).not.toContain('ended');
    expect(tab.location.assign).not.toHaveBeenCalled();
  });

  it('does not open the warning when the app kept the session alive meanwhile', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(80 * SECOND);
    server.touch(); // a WebSocket message, say
    await runTo(100 * SECOND);
    expect(tab.phases()).not.toContain('warning');
    expect(tab.client.snapshot).toMatchObject({ phase: 'active', endsAt: T0 + 200 * SECOND });
  });

  it("ends with the server's reason", async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(100 * SECOND);
    server.endReason = 'revoked';
    await runTo(120 * SECOND);
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'revoked' });
    expect(tab.location.assign).toHaveBeenCalledWith('/login?reason=revoked&return_to=%2Fform');
  });

  it('ends at the absolute deadline without asking: nothing can extend it', async () => {
    const server = new FakeServer({ absoluteMs: 60 * SECOND, warnMs: 20 * SECOND });
    const tab = openTab(new Device(), server);
    await runTo(45 * SECOND);
    expect(tab.client.snapshot).toMatchObject({
      phase: 'warning',
      endsBy: 'absolute',
      canExtend: false,
    });
    const asked = server.requests.length;
    await runTo(60 * SECOND);
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'absolute' });
    expect(server.requests.length).toBe(asked);
    expect(tab.location.assign).toHaveBeenCalledWith('/login?reason=absolute&return_to=%2Fform');
  });

  it('fails closed when the server cannot be reached at a passed deadline', async () => {
    const server = new FakeServer();
    let isDown = false;
    const fetch = server.fetchFor('A');
    const tab = openTab(new Device(), server, {
      options: {
        fetch: (url, init) =>
          isDown ? Promise.reject(new TypeError('offline')) : fetch(url, init),
      },
    });
    await runTo(100 * SECOND);
    isDown = true;
    await runTo(120 * SECOND);
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
  });

  it('asks again at most once a second while the server says the session lives', async () => {
    const server = new FakeServer({ offsetMs: -400 }); // the server is a little behind
    const tab = openTab(new Device(), server, {
      // ...and the client thinks it is ahead of us: it reads the deadline 400 ms early.
      options: { now: () => Date.now() + 800 },
    });
    await runTo(119 * SECOND);
    const before = server.requests.length;
    await runTo(121 * SECOND);
    expect(server.requests.length - before).toBeLessThanOrEqual(3);
    expect(tab.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
  });
});

describe('createLapseClient: heartbeats', () => {
  it('sends none without activity: status reads never keep the session alive', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(3 * MINUTE);
    expect(server.posts()).toEqual([]);
    expect(server.requests.every((request) => request.method === 'GET')).toBe(true);
    expect(tab.client.snapshot.endReason).toBe('idle');
  });

  it('sends one when the person was active, at most once per interval (idle - warn) / 2', async () => {
    const server = new FakeServer(); // interval 45 s
    const tab = openTab(new Device(), server);
    for (let at = 0; at <= 5 * MINUTE; at += SECOND) {
      await runTo(at);
      tab.act();
    }
    const times = server.posts().map((post) => post.at);
    expect(times.length).toBeGreaterThanOrEqual(6);
    expect(times.length).toBeLessThanOrEqual(7);
    for (let i = 1; i < times.length; i += 1)
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(45 * SECOND);
    expect(tab.phases()).not.toContain('warning');
    expect(server.posts()[0]?.headers).toMatchObject({ 'X-Lapse': '1' });
  });

  it('reports activity just before the warning at once when a heartbeat is due', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(80 * SECOND);
    tab.act();
    await wait();
    expect(server.posts().map((post) => post.at)).toEqual([80 * SECOND]);
    await runTo(100 * SECOND);
    expect(tab.phases()).not.toContain('warning');
  });

  it('counts activity in a same-origin frame, not in a frame of another origin', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(50 * SECOND);
    tab.window.dispatch('message', { origin: 'https://evil.example', data: { lapse: 'activity' } });
    await wait();
    expect(server.posts()).toEqual([]);
    tab.window.dispatch('message', { origin: ORIGIN, data: { lapse: 'activity' } });
    await wait();
    expect(server.posts()).toHaveLength(1);
  });

  it('does not extend on activity while the warning is open; "Stay signed in" does', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server);
    await runTo(95 * SECOND);
    expect(tab.client.snapshot.phase).toBe('warning');
    for (let i = 0; i < 10; i += 1) {
      tab.act();
      await wait(SECOND);
    }
    expect(server.posts()).toEqual([]);
    expect(tab.client.snapshot.phase).toBe('warning');
    await tab.client.extend();
    expect(server.posts()).toHaveLength(1);
    expect(tab.client.snapshot).toMatchObject({ phase: 'active', endsAt: T0 + 225 * SECOND });
  });

  it('rejects extend() when the server cannot be reached, and keeps the warning', async () => {
    const server = new FakeServer();
    let isDown = false;
    const fetch = server.fetchFor('A');
    const tab = openTab(new Device(), server, {
      options: {
        fetch: (url, init) =>
          isDown ? Promise.reject(new TypeError('offline')) : fetch(url, init),
      },
    });
    await runTo(95 * SECOND);
    isDown = true;
    await expect(tab.client.extend()).rejects.toThrow('lapse: extend failed');
    expect(tab.client.snapshot.phase).toBe('warning');
  });
});

describe('createLapseClient: tabs', () => {
  it('sends heartbeats from the leader only, for activity in any tab', async () => {
    const device = new Device();
    const server = new FakeServer();
    openTab(device, server, { name: 'A' });
    await wait();
    const b = openTab(device, server, { name: 'B' });
    await runTo(50 * SECOND);
    b.act();
    await wait();
    expect(server.posts().map((post) => post.tab)).toEqual(['A']);
  });

  it('hands the heartbeats to another tab when the leader tab is gone', async () => {
    const device = new Device();
    const server = new FakeServer();
    const a = openTab(device, server, { name: 'A' });
    await wait();
    const b = openTab(device, server, { name: 'B' });
    await runTo(50 * SECOND);
    a.client.stop(); // closed or discarded: its lock is released
    await wait();
    b.act();
    await wait();
    expect(server.posts().map((post) => post.tab)).toEqual(['B']);
  });

  it('reports activity from a follower itself at the warning when the leader is frozen', async () => {
    const device = new Device();
    const server = new FakeServer();
    const frozenLeaderElsewhere = (): LeaderElection => ({
      isLeader: false,
      listen() {},
      stop() {},
    });
    const b = openTab(device, server, { name: 'B', options: { leader: frozenLeaderElsewhere } });
    await runTo(30 * SECOND);
    b.act(); // forwarded to a leader that never answers
    await runTo(100 * SECOND);
    expect(server.posts().map((post) => post.at)).toEqual([90 * SECOND]);
    expect(b.phases()).not.toContain('warning');
  });

  it('keeps passive reads to the leader', async () => {
    const device = new Device();
    const server = new FakeServer({ idleMs: 10 * MINUTE, warnMs: MINUTE }); // interval 4.5 min
    openTab(device, server, { name: 'A' });
    await wait();
    openTab(device, server, { name: 'B' });
    await runTo(5 * MINUTE);
    const reads = server.requests.filter((request) => request.method === 'GET');
    expect(reads.map((read) => read.tab)).toEqual(['A', 'B', 'A']);
    expect(reads[2]?.at).toBe(270 * SECOND);
  });

  it('shows the same countdown in every tab', async () => {
    const device = new Device();
    const server = new FakeServer();
    const a = openTab(device, server, { name: 'A' });
    await runTo(20 * SECOND);
    const b = openTab(device, server, { name: 'B' });
    for (const at of [95, 100, 110, 119]) {
      await runTo(at * SECOND);
      expect(b.client.snapshot).toEqual(a.client.snapshot);
    }
  });

  it('dismisses the warning in every tab when one extends', async () => {
    const device = new Device();
    const server = new FakeServer();
    const a = openTab(device, server, { name: 'A' });
    await wait();
    const b = openTab(device, server, { name: 'B' });
    await runTo(100 * SECOND);
    expect([a.client.snapshot.phase, b.client.snapshot.phase]).toEqual(['warning', 'warning']);
    await b.client.extend();
    await wait();
    expect([a.client.snapshot.phase, b.client.snapshot.phase]).toEqual(['active', 'active']);
    expect(a.client.snapshot.endsAt).toBe(T0 + 220 * SECOND);
  });

  it('signs out every tab, with a reason distinct from a timeout and no drafts', async () => {
    const device = new Device();
    const server = new FakeServer();
    const a = openTab(device, server, { name: 'A' });
    await wait();
    const bStorage = memoryStorage();
    const b = openTab(device, server, { name: 'B', sessionStorage: bStorage });
    await runTo(10 * SECOND);
    await a.client.signOut();
    await wait();
    expect(server.posts('/_lapse/logout')).toHaveLength(1);
    expect(a.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'logout' });
    expect(b.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'logout' });
    expect(a.location.assign).toHaveBeenCalledWith('/login?reason=logout');
    expect(b.location.assign).toHaveBeenCalledWith('/login?reason=logout');
    expect(bStorage.data.size).toBe(0);
  });

  it('rejects signOut() when the server refuses, and stays', async () => {
    const server = new FakeServer();
    server.refuseLogout = true;
    const tab = openTab(new Device(), server);
    await wait();
    await expect(tab.client.signOut()).rejects.toThrow('lapse: sign-out failed');
    expect(tab.client.snapshot.phase).toBe('active');
    expect(tab.location.assign).not.toHaveBeenCalled();
  });

  it('ends every tab at a timeout, with the timeout reason', async () => {
    const device = new Device();
    const server = new FakeServer();
    const a = openTab(device, server, { name: 'A' });
    await wait();
    const b = openTab(device, server, { name: 'B', path: '/feed' });
    await runTo(121 * SECOND);
    expect(a.location.assign).toHaveBeenCalledWith('/login?reason=idle&return_to=%2Fform');
    expect(b.location.assign).toHaveBeenCalledWith('/login?reason=idle&return_to=%2Ffeed');
  });

  it('ignores an end signal about another session', async () => {
    const device = new Device();
    const server = new FakeServer();
    const a = openTab(device, server, { name: 'A' });
    await wait();
    const post = device.channel();
    post.post({ type: 'ended', reason: 'idle', absoluteExpiresAt: 42 });
    await wait();
    expect(a.client.snapshot.phase).toBe('active');
    post.post({ type: 'ended', reason: 'idle', absoluteExpiresAt: T0 + 15 * MINUTE });
    await wait();
    expect(a.client.snapshot).toMatchObject({ phase: 'ended', endReason: 'idle' });
  });
});

describe('createLapseClient: drafts', () => {
  /** A text field of the demo's form, as a fresh page renders it. */
  function titleField() {
    return {
      tagName: 'INPUT',
      type: 'text',
      name: 'title',
      id: 'title',
      value: '',
      defaultValue: '',
      autocomplete: '',
      form: null,
      closest: () => null,
      dispatchEvent: vi.fn(),
    };
  }

  it('keeps the form at expiry and puts it back after the next sign-in', async () => {
    const device = new Device();
    const server = new FakeServer();
    const sessionStorage = memoryStorage();
    const before = titleField();
    const tab = openTab(device, server, { sessionStorage, fields: [before] });
    await runTo(SECOND);
    before.value = 'Half-written report';
    await runTo(121 * SECOND);
    expect(tab.location.assign).toHaveBeenCalled();
    expect(JSON.parse(sessionStorage.data.get('lapse:draft:/form') as string)).toEqual({
      '-1|title|0': 'Half-written report',
    });

    // Signed in again; back on /form in the same tab.
    server.signIn();
    const after = titleField();
    openTab(device, server, { sessionStorage, fields: [after] });
    await wait();
    expect(after.value).toBe('Half-written report');
    expect(after.dispatchEvent).toHaveBeenCalledTimes(2);
    expect(sessionStorage.data.size).toBe(0);
  });
});

describe('createLapseClient: listeners', () => {
  it('keeps the same snapshot object until something changes, and survives a broken listener', async () => {
    const server = new FakeServer();
    const tab = openTab(new Device(), server, { start: false });
    const broken = vi.fn(() => {
      throw new Error('broken');
    });
    tab.client.subscribe(broken);
    const errors: unknown[] = [];
    tab.client.start();
    await wait().catch((error) => errors.push(error));
    expect(broken).toHaveBeenCalled();
    const first = tab.client.snapshot;
    expect(tab.client.snapshot).toBe(first);
    const unsubscribe = tab.client.subscribe(() => {});
    unsubscribe();
    expect(await tab.client.sync()).toBe(tab.client.snapshot);
  });
});
