/**
 * An EventTarget for the SDK's Node tests: it takes plain event-like objects,
 * marked trusted (Node's own events never are, and the SDK ignores untrusted
 * input by design). `visibilityState` is read by the activity monitor.
 */
export class FakeEventTarget {
  visibilityState = 'visible';
  readonly listeners = new Map<string, Set<(event: Event) => void>>();

  addEventListener(
    type: string,
    listener: (event: Event) => void,
    _options?: AddEventListenerOptions,
  ): void {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(listener);
  }

  removeEventListener(type: string, listener: (event: Event) => void): void {
    this.listeners.get(type)?.delete(listener);
  }

  /** Call every listener of `type` with `{ type, isTrusted: true, ...init }`. */
  dispatch(type: string, init: object = {}): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      listener({ type, isTrusted: true, ...init } as unknown as Event);
    }
  }
}
