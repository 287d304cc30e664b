import { Transform, type TransformCallback } from 'node:stream';

/** A request body grew past `gateway.limits.maxBodyBytes` while it streamed. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  readonly limitBytes: number;

  constructor(limitBytes: number) {
    super(`request body larger than ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
  }
}

/**
 * Pass a body through, failing with {@link BodyTooLargeError} the moment it
 * exceeds `limitBytes`: the limit of a chunked upload, whose length is known
 * only at its end. Nothing is buffered.
 */
export class BodyLimit extends Transform {
  readonly #limitBytes: number;
  #seenBytes = 0;

  constructor(limitBytes: number) {
    super();
    this.#limitBytes = limitBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seenBytes += chunk.length;
    if (this.#seenBytes > this.#limitBytes) {
      callback(new BodyTooLargeError(this.#limitBytes));
      return;
    }
    callback(null, chunk);
  }
}
