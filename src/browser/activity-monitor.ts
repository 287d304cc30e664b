/**
 * Genuine activity in a page: the person's pointer, keys, wheel and touch,
 * and coming back to a visible tab. Not scrolling (pages scroll themselves),
 * not events a script made up (`isTrusted === false`).
 *
 * It must cost nothing on a busy page: a listener does one clock read and one
 * compare, and reports at most once per `throttleMs`.
 */
import { on } from './events.js';

/** What the monitor listens on: a document (or anything with its events, for tests). */
export interface ActivityTarget {
  addEventListener(
    type: string,
    listener: (event: Event) => void,
    options?: AddEventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: (event: Event) => void,
    options?: EventListenerOptions,
  ): void;
  /** Read on `visibilitychange`: only coming back from `hidden` to `visible` is activity. */
  readonly visibilityState?: DocumentVisibilityState | string;
}

/**
 * The events that show a person is there.
 *
 * @example
 * import { ACTIVITY_EVENTS } from './activity-monitor.js';
 * ACTIVITY_EVENTS.includes('scroll'); // false: pages scroll themselves
 */
export const ACTIVITY_EVENTS = [
  'pointerdown',
  'pointermove',
  'keydown',
  'wheel',
  'touchstart',
  'visibilitychange',
] as const;

/**
 * Starts listening on `target` (capture phase, so a page that stops
 * propagation still counts; passive, so scrolling is never held up) and calls
 * `onActivity` with the time of the activity, at most once per `throttleMs`.
 * Returns a function that stops.
 *
 * @example
 * import { monitorActivity } from './activity-monitor.js';
 * const stop = monitorActivity(document, (at) => console.log('active at', at));
 */
export function monitorActivity(
  target: ActivityTarget,
  onActivity: (at: number) => void,
  now: () => number = Date.now,
  throttleMs = 1000,
): () => void {
  let reportedAt = -throttleMs;
  // Only coming BACK to the tab is activity: a browser may announce "visible" to a page that
  // never was hidden (prerendering, a headless start), and nobody returned then.
  let wasHidden = target.visibilityState === 'hidden';
  const listener = (event: Event): void => {
    if (event.isTrusted === false) return;
    if (event.type === 'visibilitychange') {
      const state = target.visibilityState;
      const isReturn = wasHidden && state === 'visible';
      wasHidden = state === 'hidden';
      if (!isReturn) return;
    }
    const at = now();
    // A clock set backwards must not silence the monitor.
    if (at - reportedAt < throttleMs && at >= reportedAt) return;
    reportedAt = at;
    onActivity(at);
  };
  return on(target, ACTIVITY_EVENTS, listener, { capture: true, passive: true });
}
