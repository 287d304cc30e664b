/** What {@link on} listens on: a window, a document (or anything with their events, for tests). */
export interface ListenTarget {
  addEventListener(type: string, listener: (event: Event) => void, options?: object): void;
  removeEventListener(type: string, listener: (event: Event) => void, options?: object): void;
}

/**
 * Listens to each of `types` on `target`; returns a function that stops.
 * One helper for every listener of the SDK: it ships in every page.
 *
 * @example
 * import { on } from './events.js';
 * const off = on(window, ['focus', 'pageshow'], () => console.log('back'));
 * off();
 */
export function on<E = Event>(
  target: ListenTarget,
  types: readonly string[],
  listener: (event: E) => void,
  options?: AddEventListenerOptions,
): () => void {
  const each = (method: 'addEventListener' | 'removeEventListener'): void => {
    for (const type of types) target[method](type, listener as (event: Event) => void, options);
  };
  each('addEventListener');
  return () => each('removeEventListener');
}
