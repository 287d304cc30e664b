import type { ServerResponse } from 'node:http';
import type { AuditEvent, AuditLog } from '../observe/audit-log.js';

/** Options of {@link streamEvents}. */
export interface EventStreamOptions {
  /** Send kept events newer than this `seq` first. Default: none (only new ones). */
  readonly after?: number;
  /** A comment line this often keeps proxies from closing an idle stream, ms. Default: 15,000. */
  readonly pingMs?: number;
  /** Unsent bytes past which a slow reader is cut off (it reconnects with `after`). Default: 4 MiB. */
  readonly maxBufferedBytes?: number;
}

function frame(event: AuditEvent): string {
  return `id: ${event.seq}\nevent: audit\ndata: ${JSON.stringify(event)}\n\n`;
}

/**
 * Answer with a server-sent event stream of the audit log: the kept events
 * after `after` first (oldest first, paging through the ring so none is
 * skipped), then each new one as it happens. A reader that falls more than
 * `maxBufferedBytes` behind is cut off rather than buffered without bound;
 * it resumes from its last `id`. Resolves when the stream ends.
 */
export function streamEvents(
  audit: AuditLog,
  res: ServerResponse,
  options: EventStreamOptions = {},
): Promise<void> {
  const pingMs = options.pingMs ?? 15_000;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
    'X-Content-Type-Options': 'nosniff',
  });
  res.flushHeaders();
  return new Promise((resolve) => {
    let lastSent = options.after;
    const write = (text: string): void => {
      res.write(text);
      if (res.writableLength > maxBuffered) res.destroy();
    };
    const send = (event: AuditEvent): void => {
      if (lastSent !== undefined && event.seq <= lastSent) return;
      lastSent = event.seq;
      write(frame(event));
    };
    // Subscribe before reading the backlog, so nothing falls between them;
    // `send` drops what the backlog already sent.
    const pending: AuditEvent[] = [];
    let isLive = false;
    const unsubscribe = audit.subscribe((event) => {
      if (isLive) send(event);
      else pending.push(event);
    });
    if (options.after !== undefined) {
      let cursor = options.after;
      for (;;) {
        const { events } = audit.recent({ after: cursor, limit: 100 });
        if (events.length === 0) break;
        for (const event of events) send(event);
        cursor = (events[events.length - 1] as AuditEvent).seq;
      }
    } else {
      res.write(': connected\n\n');
    }
    for (const event of pending) send(event);
    isLive = true;
    // A reader that has gone without closing stops draining: its pings pile up and cut it off.
    const ping = setInterval(() => write(': ping\n\n'), pingMs);
    ping.unref();
    res.once('close', () => {
      clearInterval(ping);
      unsubscribe();
      resolve();
    });
  });
}
