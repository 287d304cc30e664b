import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { HttpRequestLike } from '../http/http-request.js';
import type { Lapse } from '../http/lapse.js';
import type { EnforcementContext } from '../policy/types.js';
import { nextDeadline } from '../session/decide.js';
import type { SessionStatus } from '../session/types.js';
import { onSessionEnds } from './session-ends.js';
import { DeadlineBuckets } from './websocket/deadline-buckets.js';

/** Options of {@link StreamingResponses}. */
export interface StreamingResponsesOptions {
  readonly lapse: Lapse;
  readonly logger: Logger;
  /** Width of one deadline bucket, ms. Default: 250 (as for WebSockets). */
  readonly bucketMs?: number;
}

/** One streaming response, and what re-checks its session. */
interface Stream {
  readonly res: ServerResponse;
  readonly request: HttpRequestLike;
  readonly context: EnforcementContext;
  readonly idHash: string;
}

/**
 * Responses of a live session that are still streaming (no `Content-Length`:
 * server-sent events, long polls, chunked downloads), ended when their
 * session ends, as WebSockets are: at the session's deadline (one timer per
 * 250 ms bucket, not per response; the session is re-checked passively there,
 * and a stream whose session was extended meanwhile goes on to the new
 * deadline), at once on a revocation through any instance sharing the store,
 * a rotation or an expiry noticed elsewhere, and when the store cannot be
 * reached at a re-check (failing closed). Ending one destroys its socket: the
 * client sees the stream break and, reconnecting, gets 401.
 */
export class StreamingResponses {
  readonly #lapse: Lapse;
  readonly #logger: Logger;
  readonly #deadlines: DeadlineBuckets<Stream>;
  readonly #bySession = new Map<string, Set<Stream>>();
  readonly #stopListening: () => void;

  constructor(options: StreamingResponsesOptions) {
    this.#lapse = options.lapse;
    this.#logger = options.logger;
    this.#deadlines = new DeadlineBuckets({
      bucketMs: options.bucketMs ?? 250,
      onDue: (streams) => {
        for (const stream of streams) void this.#recheck(stream);
      },
    });
    this.#stopListening = onSessionEnds(this.#lapse.authority, (idHash, reason) =>
      this.#endSession(idHash, reason),
    );
  }

  /** Responses being watched. */
  get size(): number {
    return this.#deadlines.size;
  }

  /**
   * Watch a response whose head has been written, until it finishes or its
   * session ends. `status` and `idHash` are its request's verdict.
   */
  track(
    res: ServerResponse,
    request: HttpRequestLike,
    context: EnforcementContext,
    idHash: string,
    status: SessionStatus,
  ): void {
    if (res.writableFinished || res.destroyed) return;
    const stream: Stream = { res, request, context, idHash };
    let streams = this.#bySession.get(idHash);
    if (streams === undefined) {
      streams = new Set();
      this.#bySession.set(idHash, streams);
    }
    streams.add(stream);
    this.#deadlines.add(stream, nextDeadline(status));
    res.once('close', () => this.#forget(stream));
  }

  /** Stop watching (the gateway is shutting down; its server closes the sockets). */
  dispose(): void {
    this.#stopListening();
    this.#deadlines.clear();
    this.#bySession.clear();
  }

  async #recheck(stream: Stream): Promise<void> {
    if (stream.res.destroyed) return;
    try {
      const verdict = await this.#lapse.verify(stream.request, 'peek', stream.context);
      if (verdict.ok) {
        if (!stream.res.destroyed) this.#deadlines.add(stream, nextDeadline(verdict.status));
        return;
      }
      this.#end(stream, verdict.reason);
    } catch (error) {
      this.#logger.warn({ err: error }, 'a streaming response could not be re-checked: ended');
      this.#end(stream, 'unavailable');
    }
  }

  #endSession(idHash: string, reason: string): void {
    const streams = this.#bySession.get(idHash);
    if (streams === undefined) return;
    for (const stream of [...streams]) this.#end(stream, reason);
  }

  #end(stream: Stream, reason: string): void {
    this.#forget(stream);
    if (stream.res.destroyed) return;
    this.#logger.debug({ event: 'stream.ended', reason }, `streaming response ended: ${reason}`);
    stream.res.destroy();
  }

  #forget(stream: Stream): void {
    this.#deadlines.delete(stream);
    const streams = this.#bySession.get(stream.idHash);
    if (streams === undefined) return;
    streams.delete(stream);
    if (streams.size === 0) this.#bySession.delete(stream.idHash);
  }
}
