/**
 * The browser client: follows the server's deadlines for this session, tells
 * the server when the person is active (one heartbeat per interval, from one
 * tab), keeps every tab of the origin on one shared state, and at expiry keeps
 * the page's drafts and goes to the login page with the reason.
 *
 * Deadlines, not countdowns: every wake-up recomputes the snapshot from the
 * server's deadlines and the skew-corrected clock, so a late timer (a
 * background tab, a sleeping laptop) shows the right state as soon as it runs.
 * A phase change that matters is first checked with the server: a wall-clock
 * jump re-reads the status before anything is shown, the warning opens only
 * once the server agrees (the app's own traffic may have moved the deadline),
 * and the session ends only on the server's `401` or at the absolute deadline.
 */
import { monitorActivity } from './activity-monitor.js';
import { draftKey, restoreDrafts, saveDrafts } from './drafts.js';
import { on } from './events.js';
import { listenToFrames } from './iframe-bridge.js';
import { electLeader, type LeaderElection } from './leader-election.js';
import { skewFromRoundTrip } from './server-clock.js';
import {
  endedSnapshot,
  heartbeatIntervalMs,
  isStatusBody,
  nextChangeAt,
  STARTING_SNAPSHOT,
  snapshotAt,
} from './snapshot.js';
import { createTabChannel, type TabChannel, type TabMessage } from './tab-channel.js';
import type { EndReason, LapseClientLike, LapseSnapshot, StatusBody } from './types.js';

/**
 * A client of `lapse/browser`: the shared {@link LapseClientLike} plus its life cycle.
 *
 * @example
 * import { createLapseClient } from 'lapse/browser';
 * const lapse = createLapseClient();
 * lapse.start();
 * lapse.subscribe((snapshot) => console.log(snapshot.phase, snapshot.remainingSeconds));
 * const fresh = await lapse.sync();
 */
export interface LapseClient extends LapseClientLike {
  /** Starts listening, joins the tabs, reads the status. Idempotent. */
  start(): void;
  /** Stops everything without leaving the page (for tests, or a page that no longer needs it). */
  stop(): void;
  /** Reads `GET /_lapse/status` now (passive: it never extends) and resolves with the fresh snapshot. */
  sync(): Promise<LapseSnapshot>;
}

/** The answer `fetch` gives, as far as the client reads it. */
export type FetchResponseLike = Pick<Response, 'status' | 'json'>;

/**
 * Everything is optional; the defaults are the browser's own. Injectable for tests.
 *
 * @example
 * import { createLapseClient } from 'lapse/browser';
 * const lapse = createLapseClient({ loginUrl: '/signin', basePath: '/app' }); // /app/_lapse/status
 */
export interface LapseClientOptions {
  /** Where an ended session goes, with `?reason=…&return_to=…`. Default `/login`. */
  readonly loginUrl?: string;
  /** Prefix of the `/_lapse/` endpoints, for an app mounted under a path. Default `''`. */
  readonly basePath?: string;
  readonly fetch?: (url: string, init: RequestInit) => Promise<FetchResponseLike>;
  /** The wall clock. Default `Date.now`. */
  readonly now?: () => number;
  /** A clock that a wall-clock step or a sleep does not move. Default `performance.now`. */
  readonly monotonicNow?: () => number;
  readonly setTimeout?: (callback: () => void, ms: number) => unknown;
  readonly clearTimeout?: (handle: unknown) => void;
  /** Activity, visibility and the drafts' fields. Default `window.document`. */
  readonly document?: Document;
  /** `pageshow`, `focus`, frame messages, `location`, `sessionStorage`, `navigator.locks`. Default `window`. */
  readonly window?: Window;
  /** The channel to the other tabs. Default: BroadcastChannel, or localStorage events. */
  readonly channel?: () => TabChannel;
  /** The leader election. Default: Web Locks, or a localStorage lease. */
  readonly leader?: () => LeaderElection;
}

/** What one request told us: a live status, an ended session, another HTTP status, or nothing (unreachable). */
type Answer =
  | { readonly status: StatusBody; readonly skewMs: number }
  | { readonly reason: EndReason }
  | { readonly code: number }
  | undefined;

/**
 * A second: a wall-clock step larger than this (against the monotonic clock) means sleep or a
 * clock change; it is also the least time between two reads that check a phase change.
 */
const JUMP_MS = 1000;
const ASK_GAP_MS = JUMP_MS;
/**
 * Ten seconds: the longest sleep between two wake-ups (so a wake from sleep is noticed soon),
 * and how long a request may take before it is given up.
 */
const WATCHDOG_MS = 10_000;
const REQUEST_TIMEOUT_MS = WATCHDOG_MS;
const SERVER_REASONS: readonly unknown[] = ['idle', 'absolute', 'revoked', 'missing', 'invalid'];

/**
 * `pathname + search` if it is a same-origin path safe to carry as `return_to`
 * (the server's rule: one leading `/`, not `//`, no `\`, no control characters).
 */
function returnToOf(location: Pick<Location, 'pathname' | 'search'>): string | undefined {
  const path = location.pathname + location.search;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  return /^\/(?!\/)[^\\\u0000-\u001f\u007f]*$/.test(path) && path.length <= 2048 ? path : undefined;
}

/**
 * Creates the client; call `start()` to run it. The served
 * `/_lapse/client.js` does this by itself (as `window.lapse`).
 *
 * @example
 * import { createLapseClient, defineLapseWarning } from 'lapse/browser';
 * const lapse = createLapseClient({ loginUrl: '/login' });
 * lapse.start();
 * defineLapseWarning();
 * document.querySelector('lapse-warning').client = lapse;
 */
export function createLapseClient(options: LapseClientOptions = {}): LapseClient {
  const {
    loginUrl = '/login',
    basePath = '',
    window: win = window,
    document: doc = win.document,
    now = Date.now,
    monotonicNow = () => performance.now(),
    setTimeout: schedule = setTimeout,
    clearTimeout: cancel = clearTimeout as (handle: unknown) => void,
    fetch: request = (url, init) => fetch(url, init),
    channel: makeChannel = () => createTabChannel(win),
    leader: makeLeader = () => electLeader(win, win.navigator.locks, now, schedule, cancel),
  } = options;

  const listeners = new Set<(snapshot: LapseSnapshot) => void>();
  let snapshot = STARTING_SNAPSHOT;
  /** The newest status heard (from the server, or from another tab), with its skew. */
  let status: StatusBody | undefined;
  let skewMs = 0;
  let timer: unknown;
  /** The one background request running (status read or heartbeat); its end wakes the client. */
  let inFlight: Promise<void> | undefined;
  /** Both clocks at the last wake-up: their deltas disagree after a sleep or a clock step. */
  let lastWall = 0;
  let lastMonotonic = 0;
  /** Wall-clock times, shared by all tabs (a device has one wall clock). */
  let activityAt = 0;
  let heartbeatAt = 0;
  let contactAt = 0;
  /** When this tab last asked the server before a phase change. */
  let askedAt = 0;
  let isStarted = false;
  let isEnded = false;
  let hasRestored = false;
  let channel: TabChannel | undefined;
  let leader: LeaderElection | undefined;
  let cleanups: Array<() => void> = [];

  const hasJumped = (): boolean =>
    Math.abs(now() - lastWall - (monotonicNow() - lastMonotonic)) > JUMP_MS;
  /** Notes both clocks now; returns the wall clock. */
  const mark = (): number => {
    lastMonotonic = monotonicNow();
    lastWall = now();
    return lastWall;
  };

  /** Runs `use` with this tab's `sessionStorage` and this page's draft key; storage errors are ignored. */
  const withDrafts = (use: (store: Storage, key: string) => unknown): void => {
    try {
      use(win.sessionStorage, draftKey(win.location));
    } catch {
      // Storage blocked or full: no draft.
    }
  };

  const emit = (next: LapseSnapshot): void => {
    // Same content, same object: React's useSyncExternalStore depends on it.
    if (JSON.stringify(next) === JSON.stringify(snapshot)) return;
    snapshot = next;
    for (const listener of [...listeners]) {
      try {
        listener(next);
      } catch (error) {
        // One broken listener must not stop the others, nor the clock; report it anyway.
        schedule(() => {
          throw error;
        }, 0);
      }
    }
  };

  const stop = (): void => {
    isStarted = false;
    cancel(timer);
    for (const cleanup of cleanups) cleanup();
    cleanups = [];
    leader?.stop();
    channel?.close();
    leader = channel = undefined;
  };

  /** Over: say so, keep the drafts (not after a sign-out), go to the login page. */
  const end = (reason: EndReason, isLeaving: boolean, message?: TabMessage): void => {
    if (isEnded) return;
    if (message) channel?.post(message);
    isEnded = true;
    stop();
    emit(endedSnapshot(snapshot, reason));
    // Not when already on the login page (its path; a login page on another origin never runs this).
    if (!isLeaving || win.location.pathname === loginUrl.split(/[?#]/)[0]) return;
    withDrafts((store, key) =>
      reason === 'logout' ? store.removeItem(key) : saveDrafts(doc, store, key),
    );
    const returnTo = reason !== 'logout' && returnToOf(win.location);
    win.location.assign(
      `${loginUrl}${loginUrl.includes('?') ? '&' : '?'}reason=${reason}${
        returnTo ? `&return_to=${encodeURIComponent(returnTo)}` : ''
      }`,
    );
  };

  const ask = async (name: 'status' | 'extend' | 'logout'): Promise<Answer> => {
    const abort = new AbortController();
    const timeout = schedule(() => abort.abort(), REQUEST_TIMEOUT_MS);
    const sentAt = monotonicNow();
    try {
      // fetch's default credentials (`same-origin`) carry the session cookie.
      const response = await request(`${basePath}/_lapse/${name}`, {
        method: name === 'status' ? 'GET' : 'POST',
        headers: { Accept: 'application/json', 'X-Lapse': '1' },
        signal: abort.signal,
      });
      const receivedAt = now();
      const roundTripMs = monotonicNow() - sentAt;
      const code = response.status;
      const body = await response.json().catch(() => null);
      if (code === 401) {
        return { reason: SERVER_REASONS.includes(body?.reason) ? body.reason : 'invalid' };
      }
      return code === 200 && isStatusBody(body)
        ? { status: body, skewMs: skewFromRoundTrip(body.now, receivedAt, roundTripMs) }
        : { code };
    } catch {
      return undefined; // unreachable, or timed out
    } finally {
      cancel(timeout);
    }
  };

  /** Takes `next` if it is newer than what we have (the server's `now` orders them). */
  const adopt = (next: StatusBody, nextSkewMs: number): boolean => {
    if (status && next.now < status.now) return false;
    status = next;
    skewMs = nextSkewMs;
    contactAt = now();
    return true;
  };

  /** The first live status on this page: put back what the person typed before the last expiry. */
  const restoreOnce = (): void => {
    if (hasRestored) return;
    hasRestored = true;
    const restore = (): void => withDrafts((store, key) => restoreDrafts(doc, store, key));
    if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', restore);
    else restore();
  };

  /** The server said `401`. */
  const serverEnded = (reason: EndReason): void => {
    if (!status) {
      // This page never had a live session: a public page or the login page, where
      // `missing` is normal; another reason is a session that ended before the page loaded.
      end(reason, reason !== 'missing');
      return;
    }
    // A rejection clears the cookie, so after another tab's `401` ours says `missing`.
    const local = snapshotAt(status, now() + skewMs);
    const why = reason === 'missing' && local.phase === 'ended' ? local.endsBy : reason;
    end(why, true, { type: 'ended', reason: why, absoluteExpiresAt: status.absoluteExpiresAt });
  };

  const handle = (answer: Answer, sentHeartbeatAt?: number): void => {
    if (!answer || isEnded) return;
    if ('reason' in answer) serverEnded(answer.reason);
    if (!('status' in answer)) return;
    if (adopt(answer.status, answer.skewMs)) {
      channel?.post({ type: 'status', ...answer, heartbeatAt: sentHeartbeatAt });
    }
    restoreOnce();
  };

  /** Runs one background request at a time; when it is done, the client wakes up. */
  const run = (task: () => Promise<void>): void => {
    if (inFlight || isEnded) return;
    const done = (): void => {
      inFlight = undefined;
      update();
    };
    inFlight = task().then(done, done);
  };

  const refresh = async (): Promise<void> => handle(await ask('status'));

  const heartbeat = async (): Promise<void> => {
    const at = now();
    heartbeatAt = at;
    handle(await ask('extend'), at);
  };

  // Activity is reported late only while it would itself not yet warn: a heartbeat touches the
  // session "now", so a tab whose timers slept (a closed lid, a frozen tab) would otherwise
  // stretch the session far past what the person's last real activity allows.
  // With idle off (null) it is never due: `activityAt + null - warn` is not after `wall`.
  const isHeartbeatDue = (wall: number, policy = status?.policy): boolean =>
    !!policy &&
    activityAt > heartbeatAt &&
    wall - heartbeatAt >= heartbeatIntervalMs(policy) &&
    wall < activityAt + (policy.idle as number) - policy.warn;

  /**
   * Whether the change to `next`'s phase must wait (true when it started what
   * decides it, or ended the session). The server decides a phase change:
   * its latest word may predate the phase, and the app's own requests, another
   * tab or another device may have moved the deadline since.
   */
  const isHeldBack = (next: LapseSnapshot, wall: number): boolean => {
    const phase = next.phase;
    if (!status || phase === 'active' || phase === snapshot.phase) return false;
    if (phase === 'ended' && next.endsBy === 'absolute') {
      end('absolute', true); // nothing can help
    } else if (inFlight) {
      // Its answer decides; it wakes the client when it comes.
    } else if (phase === 'warning' && isHeartbeatDue(wall)) {
      // Activity before the warning that the server has not heard of (the leader's timers may
      // be throttled in a background tab): report it from this tab rather than warn wrongly.
      run(heartbeat);
    } else if (status.now >= (phase === 'warning' ? status.warnAt : next.endsAt)) {
      return false; // the server itself said so
    } else if (wall - askedAt >= ASK_GAP_MS) {
      askedAt = wall;
      run(async () => {
        const answer = await ask('status');
        // No answer at a passed deadline: fail closed, as the server does.
        if (phase === 'ended' && !(answer && !('code' in answer))) end(next.endsBy, true);
        else handle(answer);
      });
    } else if (phase === 'ended') {
      // Asked a moment ago and still alive: the server's clock is a little behind ours.
      timer = schedule(update, askedAt + ASK_GAP_MS - wall);
    } else {
      return false; // asked a moment ago: warn, whatever the answer was
    }
    return true;
  };

  /** The heart of the client: recompute from the deadlines, act, sleep until the next instant that matters. */
  const update = (): void => {
    cancel(timer);
    if (!isStarted || isEnded) return;
    if (!status) {
      // No answer yet (offline at start): ask again later.
      if (!inFlight) timer = schedule(() => run(refresh), WATCHDOG_MS);
      return;
    }
    const jumped = hasJumped();
    const wall = mark();
    if (jumped) {
      // Slept, or the clock was set: the skew is stale. Nothing is shown before the server answers.
      run(refresh);
      return;
    }
    const serverNow = wall + skewMs;
    const next = snapshotAt(status, serverNow);
    if (isHeldBack(next, wall)) return;
    emit(next);
    const intervalMs = heartbeatIntervalMs(status.policy);
    const wakeAt = [
      wall + WATCHDOG_MS,
      nextChangeAt(status.warnAt, next.endsAt, serverNow) - skewMs,
    ];
    if (leader?.isLeader && next.phase === 'active' && !inFlight) {
      if (isHeartbeatDue(wall)) run(heartbeat);
      else if (wall - contactAt >= intervalMs) {
        contactAt = wall; // an attempt counts, so an unreachable server is not asked in a loop
        run(refresh);
      } else {
        if (activityAt > heartbeatAt) wakeAt.push(heartbeatAt + intervalMs);
        wakeAt.push(contactAt + intervalMs);
      }
    }
    timer = schedule(update, Math.max(0, Math.min(...wakeAt) - wall));
  };

  /** Activity in this page, one of its frames, or (forwarded) another tab. */
  const onActivity = (at: number, isLocal: boolean): void => {
    // Back from sleep: the deadlines are stale, so is this activity's place among them.
    if (hasJumped()) {
      update();
      return;
    }
    // During the warning only "Stay signed in" extends: moving the mouse must not dismiss it.
    if (isEnded || (status && at + skewMs >= status.warnAt)) return;
    if (at > activityAt) activityAt = at;
    if (!leader?.isLeader) {
      if (isLocal) channel?.post({ type: 'activity', at });
    } else if (isHeartbeatDue(now())) update();
  };

  const onMessage = (message: TabMessage): void => {
    if (
      message.type === 'status' &&
      isStatusBody(message.status) &&
      Number.isFinite(message.skewMs)
    ) {
      adopt(message.status, message.skewMs);
      if ((message.heartbeatAt as number) > heartbeatAt)
        heartbeatAt = message.heartbeatAt as number;
      restoreOnce();
      update();
    } else if (message.type === 'activity') {
      onActivity(message.at, false);
    } else if (message.type === 'ended') {
      // Only for the same session: a tab still on an old one must not end a new sign-in.
      if (status?.absoluteExpiresAt === message.absoluteExpiresAt) {
        end(message.reason, true);
      }
    } else if (message.type === 'signed-out') {
      end('logout', true);
    }
  };

  return {
    get snapshot() {
      return snapshot;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    start() {
      if (isStarted || isEnded) return;
      isStarted = true;
      // Loading this page was a genuine request: it touched the session just now.
      if (mark() > heartbeatAt) heartbeatAt = lastWall;
      channel = makeChannel();
      channel.listen(onMessage);
      leader = makeLeader();
      leader.listen(update);
      cleanups = [
        monitorActivity(doc, (at) => onActivity(at, true), now),
        listenToFrames(win, () => onActivity(now(), true)),
        on(doc, ['visibilitychange'], update),
        // Back from the back/forward cache (`persisted`): anything may have changed meanwhile.
        on<PageTransitionEvent>(win, ['focus', 'pageshow'], (event) =>
          event.persisted ? run(refresh) : update(),
        ),
      ];
      run(refresh);
    },
    stop,
    sync() {
      run(refresh);
      return Promise.resolve(inFlight).then(() => snapshot);
    },
    async extend() {
      if (isEnded) return;
      const at = now();
      const answer = await ask('extend');
      if (!answer || 'code' in answer) throw Error('lapse: extend failed');
      if ('status' in answer && at > heartbeatAt) heartbeatAt = at;
      handle(answer, at);
      update();
    },
    async signOut() {
      const answer = await ask('logout');
      // The session must really be revoked before the page says so.
      if ((answer as { code?: number } | undefined)?.code !== 200) {
        throw Error('lapse: sign-out failed');
      }
      end('logout', true, { type: 'signed-out' });
    },
  };
}
