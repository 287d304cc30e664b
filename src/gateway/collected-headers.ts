import type { HeaderSink } from '../http/request-session.js';

/**
 * A {@link HeaderSink} that keeps what lapse wants on the response until the
 * upstream's answer arrives, then lays it over the upstream's headers:
 * `set` replaces the upstream's value, `append` adds to it (`Set-Cookie`).
 */
export class CollectedHeaders implements HeaderSink {
  readonly #set = new Map<string, string>();
  readonly #appended: Array<readonly [string, string]> = [];

  set(name: string, value: string): void {
    this.#set.set(name.toLowerCase(), value);
  }

  append(name: string, value: string): void {
    this.#appended.push([name.toLowerCase(), value]);
  }

  /** Whether nothing was collected. */
  get isEmpty(): boolean {
    return this.#set.size === 0 && this.#appended.length === 0;
  }

  /** Lay the collected headers over `headers` (lower-case names), in place. */
  applyTo(headers: Record<string, string | string[]>): void {
    for (const [name, value] of this.#set) headers[name] = value;
    for (const [name, value] of this.#appended) {
      const earlier = headers[name];
      headers[name] =
        earlier === undefined
          ? [value]
          : Array.isArray(earlier)
            ? [...earlier, value]
            : [earlier, value];
    }
  }

  /** The collected headers as pairs, for a response lapse itself sends. */
  pairs(): Array<readonly [string, string]> {
    return [...this.#set, ...this.#appended];
  }
}
