/**
 * Exactly one leader among the tabs of one origin: the tab that sends the
 * heartbeats. With Web Locks the leader holds a lock until its tab is gone
 * (closed, crashed or discarded: the browser releases the lock) and the next
 * waiting tab gets it. Without them (an insecure context, an old browser), a
 * lease in `localStorage` that the leader renews every `renewMs`; a follower
 * takes a lease that went `leaseMs` without renewal, so a frozen leader loses
 * out, and steps down when it thaws and finds another tab's lease. Two tabs
 * that claim the same stale lease at once sort it out at the next renewal.
 */

/** `becameLeader` when this tab starts sending heartbeats, `lostLeader` when it stops. */
export type LeaderEvent = 'becameLeader' | 'lostLeader';

/** One tab's part in the election. */
export interface LeaderElection {
  readonly isLeader: boolean;
  /** Be told when this tab becomes or stops being the leader (one listener; a second replaces the first). */
  listen(listener: (event: LeaderEvent) => void): void;
  /** Leave the election (and hand leadership on). */
  stop(): void;
}

/** What the lease needs of a window. */
export type LeaseWindow = { readonly localStorage?: Storage };

/**
 * Joins the election named `name`: with `locks` (usually `navigator.locks`)
 * if given, else with a lease in `win.localStorage`. Without either, every tab
 * leads itself. The clock and timers are injectable for tests.
 *
 * @example
 * import { electLeader } from './leader-election.js';
 * const election = electLeader(window, navigator.locks);
 * election.listen((event) => console.log(event)); // 'becameLeader' | 'lostLeader'
 */
export function electLeader(
  win: LeaseWindow,
  locks: Pick<LockManager, 'request'> | null | undefined,
  now: () => number = Date.now,
  schedule: (callback: () => void, ms: number) => unknown = setTimeout,
  cancel: (handle: unknown) => void = clearTimeout as (handle: unknown) => void,
  name = 'lapse:leader',
  renewMs = 2000,
  leaseMs = 5000,
): LeaderElection {
  let isLeader = false;
  let isStopped = false;
  let notify = (_event: LeaderEvent): void => {};
  let leave = (): void => {};
  const setLeader = (value: boolean): void => {
    if (value === isLeader) return;
    isLeader = value;
    notify(value ? 'becameLeader' : 'lostLeader');
  };

  const startLease = (): void => {
    const id = Math.random();
    let timer: unknown;
    const tick = (): void => {
      let lease: { id?: unknown; until?: unknown } | null | undefined;
      try {
        lease = JSON.parse((win.localStorage as Storage).getItem(name) as string);
      } catch {
        // An unreadable lease: claim it.
      }
      // Free, stale or ours: take it, or renew it. Storage blocked (`localStorage` itself
      // throws): lead alone. Full: the lease goes stale and another tab takes over.
      let isOurs = !((lease?.until as number) > now()) || lease?.id === id;
      try {
        if (isOurs) win.localStorage?.setItem(name, JSON.stringify({ id, until: now() + leaseMs }));
      } catch {
        isOurs = true;
      }
      setLeader(isOurs);
      timer = schedule(tick, renewMs);
    };
    leave = () => cancel(timer);
    tick();
  };

  if (locks) {
    const abort = new AbortController();
    let release = (): void => {};
    locks
      .request(name, { signal: abort.signal }, () => {
        setLeader(!isStopped);
        return new Promise<void>((resolve) => {
          release = resolve;
          if (isStopped) resolve();
        });
      })
      // Aborted by stop(), or Web Locks refused (an opaque origin): then the lease.
      .catch(() => isStopped || startLease());
    leave = () => {
      abort.abort();
      release();
    };
  } else {
    startLease();
  }

  return {
    get isLeader() {
      return isLeader;
    },
    listen(listener) {
      notify = listener;
    },
    stop() {
      isStopped = true;
      leave();
      setLeader(false);
    },
  };
}
