/**
 * The event stream over real sockets: a node:http server answering with
 * `streamEvents`, real clients reading (or not reading) the stream.
 */
import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditEvent, AuditLog } from '../observe/audit-log.js';
import { ManualClock } from '../session/clock.js';
import { type EventStreamOptions, streamEvents } from './event-stream.js';

const START = 1_800_000_000_000;

/** One server-sent block: an event (`id`, `event`, `data`) or a comment. */
interface Block {
  readonly id?: number;
  readonly event?: string;
  readonly data?: AuditEvent;
  readonly comment?: string;
  readonly at: number;
}

function parseBlock(text: string, at: number): Block {
  const block: { -readonly [K in keyof Block]?: Block[K] } = { at };
  for (const line of text.split('\n')) {
    if (line.startsWith(': ')) block.comment = line.slice(2);
    else if (line.startsWith('id: ')) block.id = Number(line.slice(4));
    else if (line.startsWith('event: ')) block.event = line.slice(7);
    else if (line.startsWith('data: ')) block.data = JSON.parse(line.slice(6)) as AuditEvent;
    else throw new Error(`not a server-sent event line: ${JSON.stringify(line)}`);
  }
  return block as Block;
}

/** A client reading the stream as it comes, block by block. */
class StreamReader {
  readonly blocks: Block[] = [];
  readonly response: IncomingMessage;
  #buffer = '';
  #waiters: (() => void)[] = [];

  constructor(response: IncomingMessage) {
    this.response = response;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let end = this.#buffer.indexOf('\n\n');
      while (end !== -1) {
        this.blocks.push(parseBlock(this.#buffer.slice(0, end), performance.now()));
        this.#buffer = this.#buffer.slice(end + 2);
        end = this.#buffer.indexOf('\n\n');
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  get ids(): number[] {
    return this.blocks.flatMap((block) => (block.id === undefined ? [] : [block.id]));
  }

  /** Resolves once `isDone` holds for the blocks read so far. */
  async until(isDone: (blocks: readonly Block[]) => boolean, timeoutMs = 2_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!isDone(this.blocks)) {
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(`gave up after ${timeoutMs} ms with ${this.blocks.length} blocks`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

interface Served {
  readonly port: number;
  /** The server side of each stream, and the promise `streamEvents` returned for it. */
  readonly streams: { readonly res: ServerResponse; readonly done: Promise<void> }[];
  /** Calls to `res.write`, counted per response. */
  readonly writes: Map<ServerResponse, number>;
  /** Resolves with the next response the server starts streaming. */
  nextStream(): Promise<{ readonly res: ServerResponse; readonly done: Promise<void> }>;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * Serve `streamEvents(audit, res, options)`. `onWrite` runs after each
 * `res.write` the stream makes, with what was written: a listener on the
 * real response, to act while the stream is being written.
 */
async function serve(
  audit: AuditLog,
  options: EventStreamOptions,
  onWrite: (chunk: string) => void = () => {},
): Promise<Served> {
  const streams: Served['streams'] = [];
  const writes = new Map<ServerResponse, number>();
  let waiting: ((stream: Served['streams'][number]) => void)[] = [];
  const server = createServer((_req, res) => {
    const write = res.write;
    writes.set(res, 0);
    res.write = ((...args: Parameters<ServerResponse['write']>) => {
      writes.set(res, (writes.get(res) ?? 0) + 1);
      const result = Reflect.apply(write, res, args) as boolean;
      onWrite(String(args[0]));
      return result;
    }) as ServerResponse['write'];
    const stream = { res, done: streamEvents(audit, res, options) };
    streams.push(stream);
    for (const wake of waiting) wake(stream);
    waiting = [];
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return {
    port: (server.address() as AddressInfo).port,
    streams,
    writes,
    nextStream: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

async function read(port: number): Promise<StreamReader> {
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    get(
      { host: '127.0.0.1', port, path: '/', headers: { accept: 'text/event-stream' } },
      resolve,
    ).on('error', reject);
  });
  closers.unshift(async () => {
    response.destroy();
  });
  return new StreamReader(response);
}

function auditLog(capacity = 500): AuditLog {
  return new AuditLog({
    destination: { write: () => true },
    capacity,
    clock: new ManualClock(START),
    onListenerError: (error) => {
      throw error;
    },
  });
}

/** Append one event (a reload is the simplest event there is); returns its seq. */
function append(audit: AuditLog, trigger = 'test'): number {
  return audit.recordReload({ result: 'unchanged' }, trigger).seq;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

describe('streamEvents', () => {
  it('answers as an event stream nothing may cache or buffer', async () => {
    const audit = auditLog();
    const { port } = await serve(audit, {});
    const reader = await read(port);
    expect(reader.response.statusCode).toBe(200);
    expect(reader.response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(reader.response.headers['cache-control']).toBe('no-store');
    expect(reader.response.headers['x-accel-buffering']).toBe('no');
  });

  it('sends the kept events after `after`, paging past 100, then live ones, in order, once each', async () => {
    const audit = auditLog(500);
    for (let i = 0; i < 250; i += 1) append(audit);
    const { port } = await serve(audit, { after: 20 });
    const reader = await read(port);
    await reader.until(() => reader.ids.at(-1) === 250);
    for (let i = 0; i < 5; i += 1) append(audit, `live ${i}`);
    await reader.until(() => reader.ids.at(-1) === 255);
    expect(reader.ids).toEqual(range(21, 255));
    for (const block of reader.blocks) {
      expect(block.event).toBe('audit');
      expect(block.data?.seq).toBe(block.id);
      expect(block.data?.event).toBe('policy.reload');
    }
    expect(reader.blocks.at(-1)?.data?.detail).toEqual({ trigger: 'live 4', code: null });
  });

  it('loses and repeats nothing when events are appended while the backlog is being written', async () => {
    const audit = auditLog(500);
    for (let i = 0; i < 250; i += 1) append(audit);
    const appendedDuring: number[] = [];
    const { port } = await serve(audit, { after: 0 }, (chunk) => {
      const seq = Number(/^id: (\d+)\n/.exec(chunk)?.[1]);
      // Mid-page, at a page's end (100, 200) and on the last kept event: append one.
      if ([1, 57, 100, 200, 250, 251].includes(seq)) {
        appendedDuring.push(append(audit, `during ${seq}`));
      }
    });
    const reader = await read(port);
    await reader.until(() => reader.ids.at(-1) === 256);
    expect(appendedDuring).toEqual(range(251, 256));
    for (let i = 0; i < 3; i += 1) append(audit, `live ${i}`);
    await reader.until(() => reader.ids.at(-1) === 259);
    expect(reader.ids).toEqual(range(1, 259));
    expect(reader.blocks.find((block) => block.id === 256)?.data?.detail.trigger).toBe(
      'during 251',
    );
  });

  it('starts from the oldest kept event when `after` is older than the log keeps', async () => {
    const audit = auditLog(100);
    for (let i = 0; i < 250; i += 1) append(audit);
    const { port } = await serve(audit, { after: 10 });
    const reader = await read(port);
    await reader.until(() => reader.ids.at(-1) === 250);
    expect(reader.ids).toEqual(range(151, 250));
  });

  it('without `after`, sends only events newer than the connection', async () => {
    const audit = auditLog();
    for (let i = 0; i < 30; i += 1) append(audit);
    const { port } = await serve(audit, {});
    const reader = await read(port);
    await reader.until((blocks) => blocks.some((block) => block.comment === 'connected'));
    append(audit);
    append(audit);
    await reader.until(() => reader.ids.length === 2);
    expect(reader.ids).toEqual([31, 32]);
  });

  it('cuts off a reader that falls more than maxBufferedBytes behind, and forgets it', async () => {
    const audit = auditLog();
    const served = await serve(audit, { maxBufferedBytes: 256 * 1024 });
    // A reader that keeps up, as a control: the same traffic must not cut it off.
    const keepingUp = served.nextStream();
    const reader = await read(served.port);
    const fast = await keepingUp;
    // A raw socket that sends its request and then reads nothing.
    const stalled = served.nextStream();
    const socket: Socket = connect(served.port, '127.0.0.1');
    closers.unshift(async () => {
      socket.destroy();
    });
    await once(socket, 'connect');
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    socket.pause();
    const slow = await stalled;
    const socketClosed = once(socket, 'close');

    // 64 KiB of events a turn of the event loop, until the stalled reader is cut off.
    const big = 'x'.repeat(32 * 1024);
    let lastSeq = 0;
    for (let turn = 0; turn < 500 && !slow.res.destroyed; turn += 1) {
      lastSeq = append(audit, big);
      lastSeq = append(audit, big);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(slow.res.destroyed).toBe(true);
    expect(lastSeq).toBeGreaterThan(8); // it took more than maxBufferedBytes to get there
    let isFinished = false;
    await Promise.race([
      slow.done.then(() => {
        isFinished = true;
      }),
      new Promise((resolve) => setTimeout(resolve, 2_000)),
    ]);
    expect(isFinished).toBe(true);

    // Unsubscribed: later events never reach the dead response, and nothing throws.
    const writes = served.writes.get(slow.res);
    for (let i = 0; i < 20; i += 1) lastSeq = append(audit, `after ${i}`);
    expect(served.writes.get(slow.res)).toBe(writes);

    // The reader that kept up got everything, in order, and is still connected.
    await reader.until(() => reader.ids.at(-1) === lastSeq, 5_000);
    expect(reader.ids).toEqual(range(1, lastSeq));
    expect(fast.res.destroyed).toBe(false);
    socket.resume();
    await socketClosed;
  });

  it('sends a ping comment every pingMs, and ends when the reader goes away', async () => {
    const audit = auditLog();
    const served = await serve(audit, { pingMs: 50 });
    const started = served.nextStream();
    const reader = await read(served.port);
    const { done } = await started;
    const connectedAt = performance.now();
    await reader.until(
      (blocks) => blocks.filter((block) => block.comment === 'ping').length >= 5,
      1_000,
    );
    const pings = reader.blocks
      .filter((block) => block.comment === 'ping')
      .map((block) => block.at);
    expect(pings[0] as number).toBeGreaterThanOrEqual(connectedAt + 35);
    for (let i = 1; i < pings.length; i += 1) {
      expect((pings[i] as number) - (pings[i - 1] as number)).toBeGreaterThanOrEqual(25);
    }
    // Five pings took about 250 ms: not far more (a stalled timer) or far fewer (a flood).
    expect((pings[4] as number) - connectedAt).toBeLessThan(600);
    reader.response.destroy();
    await done;
  });
});
