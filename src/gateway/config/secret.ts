import { inspect } from 'node:util';

const REDACTED = '[secret]';

/**
 * A secret from the config (an admin token, a JWT secret, a Redis URL that may
 * hold a password). It prints as `[secret]` everywhere a value can leak by
 * accident: `String()`, template strings, `JSON.stringify`, `util.inspect`,
 * `console.log`. Only {@link Secret.value} gives the text, so every place that
 * uses it is a deliberate call that is easy to find.
 *
 * @example
 * import { Secret } from 'lapse/gateway';
 * const token = new Secret('s3cr3t-admin-token');
 * `${token}`;     // '[secret]'
 * token.value();  // 's3cr3t-admin-token'
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    Object.freeze(this);
  }

  /** The secret text. Never log it. */
  value(): string {
    return this.#value;
  }

  /** Always `[secret]`. */
  toString(): string {
    return REDACTED;
  }

  /** Always `[secret]`, so `JSON.stringify` never writes the secret. */
  toJSON(): string {
    return REDACTED;
  }

  /** Always `[secret]`, for `util.inspect` and `console.log`. */
  [inspect.custom](): string {
    return REDACTED;
  }
}
