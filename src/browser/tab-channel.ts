/**
 * Messages between the tabs of one origin: `BroadcastChannel` where there is
 * one, else `localStorage` writes, which fire `storage` events in the other
 * tabs. Neither delivers a message to the tab that sent it. Receivers check
 * what they read: any script of the origin can post.
 */
import { on } from './events.js';
import type { EndReason, StatusBody } from './types.js';

/** What the tabs tell each other. */
export type TabMessage =
  /** A fresh status from the server, with the sender's skew (tabs share one wall clock). */
  | {
      readonly type: 'status';
      readonly status: StatusBody;
      readonly skewMs: number;
      /** When the sender sent the heartbeat (`POST /_lapse/extend`) this answers, on its wall clock. */
      readonly heartbeatAt?: number | undefined;
    }
  /** A follower's person was active (at most about once a second). */
  | { readonly type: 'activity'; readonly at: number }
  /** The server said the session is over (a `401`); `absoluteExpiresAt` names the session. */
  | { readonly type: 'ended'; readonly reason: EndReason; readonly absoluteExpiresAt: number }
  /** The person signed out: not a timeout. */
  | { readonly type: 'signed-out' };

/** A channel to the other tabs. */
export interface TabChannel {
  post(message: TabMessage): void;
  /** Be told of the other tabs' messages (one listener; a second replaces the first). */
  listen(listener: (message: TabMessage) => void): void;
  close(): void;
}

/** What the storage fallback needs of a window. */
export type StorageWindow = Pick<Window, 'addEventListener' | 'removeEventListener'> & {
  readonly localStorage?: Storage;
};

/**
 * Opens the channel named `name` to the other tabs of this origin. Pass
 * `Channel: null` to force the storage fallback (tests, or a browser without
 * `BroadcastChannel`).
 *
 * @example
 * import { createTabChannel } from './tab-channel.js';
 * const channel = createTabChannel();
 * channel.listen((message) => console.log('another tab says', message));
 * channel.post({ type: 'signed-out' });
 */
export function createTabChannel(
  win: StorageWindow = globalThis as unknown as Window,
  name = 'lapse',
  Channel: typeof BroadcastChannel | null | undefined = globalThis.BroadcastChannel,
): TabChannel {
  let deliver = (_message: TabMessage): void => {};
  const channel = Channel ? new Channel(name) : undefined;
  if (channel) channel.onmessage = (event) => deliver(event.data);
  return {
    post(message) {
      try {
        if (channel) channel.postMessage(message);
        // A fresh value every time: writing the same value again fires no event.
        else win.localStorage?.setItem(name, JSON.stringify([message, Math.random()]));
      } catch {
        // Storage full or blocked: the other tabs hear it from the server instead.
      }
    },
    listen(listener) {
      deliver = listener;
    },
    close: channel
      ? () => channel.close()
      : on<StorageEvent>(win, ['storage'], (event) => {
          if (event.key !== name || !event.newValue) return;
          try {
            deliver(JSON.parse(event.newValue)[0]);
          } catch {
            // Not ours, or cut short: ignore.
          }
        }),
  };
}
