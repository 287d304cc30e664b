import { OptionError } from '../errors.js';

/**
 * A `Map` that holds at most `capacity` entries, forgetting the least recently
 * used one first. The detectors keep per-session and per-subject state in it,
 * so their memory is bounded however many sessions pass through.
 *
 * @example
 * import { BoundedMap } from './bounded-map.js';
 * const seen = new BoundedMap<string, number>(10_000);
 * seen.set('a', 1);
 */
export class BoundedMap<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;

  constructor(capacity: number, option = 'capacity') {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new OptionError(option, `expected a whole number of entries >= 1, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  /** The most entries this map holds. */
  get capacity(): number {
    return this.#capacity;
  }

  /** How many entries it holds now. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value of `key`, marking it recently used. */
  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  /** Set `key` (as the most recently used), forgetting the least recently used entry when full. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  /** Forget `key`. */
  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  /** Whether `key` is held (does not mark it used). */
  has(key: K): boolean {
    return this.#entries.has(key);
  }
}
