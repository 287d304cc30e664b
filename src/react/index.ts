/**
 * `lapse/react`: the browser SDK for React (a peer dependency; nothing under
 * `lapse/browser` imports React). `useLapse` reads the client's snapshots,
 * `<LapseWarning>` renders the `<lapse-warning>` element wired to a client.
 *
 * Without a `client` argument both use `window.lapse`, the client the served
 * `/_lapse/client.js` starts by itself. It is read on every render, so if that
 * script may load after React first renders, pass the client explicitly.
 *
 * @example
 * import { LapseWarning, useLapse } from 'lapse/react';
 * function SessionBadge() {
 *   const { phase, remainingSeconds } = useLapse();
 *   return phase === 'warning' ? <span>{remainingSeconds} s left</span> : null;
 * }
 * function App() {
 *   return <><SessionBadge /><LapseWarning /></>;
 * }
 */

import {
  createElement,
  type ReactElement,
  useCallback,
  useEffect,
  useRef,
  useSyncExternalStore,
} from 'react';
import { defineLapseWarning, type LapseWarningElement } from '../browser/lapse-warning.js';
import { STARTING_SNAPSHOT } from '../browser/snapshot.js';
import type { LapseClientLike, LapsePhase, LapseSnapshot } from '../browser/types.js';
import type { WarningStrings } from '../browser/warning-strings.js';

export type { LapseClientLike, LapsePhase, LapseSnapshot } from '../browser/types.js';
export type { WarningStrings } from '../browser/warning-strings.js';

/** What `useLapse` returns. */
export interface LapseState {
  /** The client's latest snapshot (a `starting` one while there is no client). */
  readonly snapshot: LapseSnapshot;
  readonly phase: LapsePhase;
  readonly remainingSeconds: number;
  /** "Stay signed in" (resolves at once while there is no client). */
  readonly extend: () => Promise<void>;
  /** Sign out in every tab (resolves at once while there is no client). */
  readonly signOut: () => Promise<void>;
}

/** The snapshot while there is no client (server rendering, or before the client script ran). */
const NO_CLIENT: LapseSnapshot = STARTING_SNAPSHOT;

function resolveClient(client: LapseClientLike | null | undefined): LapseClientLike | null {
  return client ?? (globalThis as { lapse?: LapseClientLike }).lapse ?? null;
}

/**
 * The session as React state: re-renders on every snapshot the client emits
 * (at least once a second during the warning). Without `client`, uses
 * `window.lapse`. The client must keep returning the same `snapshot` object
 * until it has a new one (as `useSyncExternalStore` requires).
 *
 * @example
 * import { useLapse } from 'lapse/react';
 * function StaySignedIn() {
 *   const { phase, remainingSeconds, extend } = useLapse();
 *   if (phase !== 'warning') return null;
 *   return <button onClick={extend}>Stay signed in ({remainingSeconds} s)</button>;
 * }
 */
export function useLapse(client?: LapseClientLike | null): LapseState {
  const resolved = resolveClient(client);
  const subscribe = useCallback(
    (onChange: () => void) => (resolved ? resolved.subscribe(onChange) : () => {}),
    [resolved],
  );
  const getSnapshot = (): LapseSnapshot => resolved?.snapshot ?? NO_CLIENT;
  const snapshot = useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
  const extend = useCallback(async () => resolved?.extend(), [resolved]);
  const signOut = useCallback(async () => resolved?.signOut(), [resolved]);
  return {
    snapshot,
    phase: snapshot.phase,
    remainingSeconds: snapshot.remainingSeconds,
    extend,
    signOut,
  };
}

/** Props of `<LapseWarning>`. */
export interface LapseWarningProps {
  /** Defaults to `window.lapse`. */
  client?: LapseClientLike | null;
  /** Overrides for some or all strings; English defaults for the rest. */
  strings?: Partial<WarningStrings>;
  /** Passed to the element: restyle it with `--lapse-warning-*` properties and `::part()`. */
  className?: string;
  /** The language of the strings; the clock time and durations are formatted for it. */
  lang?: string;
}

/**
 * Renders `<lapse-warning>` (registering it on first use) and hands it the
 * client and strings as properties. It renders nothing visible until the
 * session enters its warning period, so it can sit once near the app's root.
 *
 * @example
 * import { LapseWarning } from 'lapse/react';
 * <LapseWarning strings={{ stayLabel: 'Keep me signed in' }} className="brand-warning" />
 */
export function LapseWarning({
  client,
  strings,
  className,
  lang,
}: LapseWarningProps): ReactElement {
  // Before the element is created, so React creates an upgraded element (no-op on the server).
  defineLapseWarning();
  const ref = useRef<LapseWarningElement>(null);
  const resolved = resolveClient(client);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    element.client = resolved;
    return () => {
      element.client = null;
    };
  }, [resolved]);
  useEffect(() => {
    if (ref.current) ref.current.strings = strings ?? {};
  }, [strings]);
  return createElement('lapse-warning', { ref, className, lang });
}
