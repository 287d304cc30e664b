import { reportListenerError } from './store-warnings.js';

/**
 * The listeners of one kind of event of a store. Each registration gets its
 * own wrapper, so registering one function twice means two calls and each
 * returned function removes only its own registration. A throwing listener is
 * reported as a `LapseWarning` and the others are still told.
 *
 * @example
 * const expired = new ListenerSet<SessionRecord>('MemoryStore');
 * const stop = expired.add((record) => console.log(record.idHash));
 * expired.notify(record);
 * stop();
 */
export class ListenerSet<T> {
  readonly #storeName: string;
  readonly #listeners = new Set<(value: T) => void>();

  /** @param storeName the store's class name, as a warning about a throwing listener names it. */
  constructor(storeName: string) {
    this.#storeName = storeName;
  }

  /** Registrations held. */
  get size(): number {
    return this.#listeners.size;
  }

  /** Register `listener`; returns a function that removes this registration (and only it). */
  add(listener: (value: T) => void): () => void {
    const registration = (value: T): void => listener(value);
    this.#listeners.add(registration);
    return () => {
      this.#listeners.delete(registration);
    };
  }

  /**
   * Tell every listener, in registration order. One registered during the call
   * is told too; one removed before its turn is not.
   */
  notify(value: T): void {
    for (const listener of this.#listeners) this.#call(listener, value);
  }

  /**
   * Tell only the listeners registered when the call began: one registered
   * during the call starts with the next value; one removed before its turn is
   * not told.
   */
  notifyRegistered(value: T): void {
    for (const listener of [...this.#listeners]) {
      if (this.#listeners.has(listener)) this.#call(listener, value);
    }
  }

  /** Remove every registration. */
  clear(): void {
    this.#listeners.clear();
  }

  #call(listener: (value: T) => void, value: T): void {
    try {
      listener(value);
    } catch (error) {
      reportListenerError(this.#storeName, error);
    }
  }
}
