/**
 * Activity inside same-origin iframes counts: the frame reports it to its
 * parent with `postMessage`, addressed to its own origin (so a parent of
 * another origin never receives it), and the parent accepts the message only
 * from its own origin.
 */
import { monitorActivity } from './activity-monitor.js';
import { on } from './events.js';

/** What the frame side needs of its window. */
export type FrameWindow = Pick<Window, 'document' | 'parent' | 'location'>;

/**
 * In a frame: reports the person's activity to the parent as
 * `{ lapse: 'activity' }`, at most once a second. Returns a function that stops.
 *
 * @example
 * import { startIframeBridge } from './iframe-bridge.js';
 * if (window.parent !== window) startIframeBridge(window);
 */
export function startIframeBridge(win: FrameWindow, now?: () => number): () => void {
  return monitorActivity(
    win.document,
    () => win.parent.postMessage({ lapse: 'activity' }, win.location.origin),
    now,
  );
}

/**
 * In the page: calls `onActivity` when a frame of the same origin reports
 * activity. Returns a function that stops.
 *
 * @example
 * import { listenToFrames } from './iframe-bridge.js';
 * const stop = listenToFrames(window, () => console.log('active in a frame'));
 */
export function listenToFrames(
  win: Pick<Window, 'addEventListener' | 'removeEventListener' | 'location'>,
  onActivity: () => void,
): () => void {
  return on<MessageEvent>(win, ['message'], (event) => {
    if (event.origin === win.location.origin && event.data?.lapse === 'activity') onActivity();
  });
}
