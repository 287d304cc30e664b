/**
 * Throwaway Redis servers for tests that need to stop Redis, count its
 * commands or reset its statistics without touching the shared one: each is a
 * `redis-server` child process on a free port, in memory only
 * (`--save "" --appendonly no`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, Socket } from 'node:net';

/** The shared Redis the store tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A free TCP port on 127.0.0.1, as the kernel hands one out. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

/** Whether something answers a Redis PING at host:port within `timeoutMs`. */
export async function answersPing(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.connect(port, host, () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

/**
 * Fail (never skip, never hang) when the shared Redis does not answer within
 * about two seconds, saying how to start one.
 */
export async function requireRedis(url: string = REDIS_URL): Promise<void> {
  const { hostname, port } = new URL(url);
  const host = hostname === '' ? '127.0.0.1' : hostname;
  if (!(await answersPing(host, Number(port || 6379), 2_000))) {
    throw new Error(
      `Redis not reachable at ${url}: start it with redis-server --port ${port || 6379} --save "" --appendonly no (or set REDIS_URL)`,
    );
  }
}

/** A redis-server child process on its own port. */
export class ThrowawayRedis {
  readonly port: number;
  #process: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  /** Start a server on a free port and wait until it answers. */
  static async start(): Promise<ThrowawayRedis> {
    const server = new ThrowawayRedis(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get isRunning(): boolean {
    return this.#process !== undefined;
  }

  /** Start it again on the same port (empty: it keeps nothing on disk). */
  async restart(): Promise<void> {
    if (this.#process !== undefined) return;
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    const deadline = Date.now() + 5_000;
    while (!(await answersPing('127.0.0.1', this.port, 200))) {
      if (this.#process !== child) throw new Error(`redis-server on port ${this.port} exited`);
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not answer within 5 s`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stop it (SIGKILL: an abrupt outage, not a clean shutdown) and wait for the process to exit. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  }
}
