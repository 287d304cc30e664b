/**
 * Throwaway Redis servers for tests that need to stop Redis, count its
 * commands or reset its statistics without touching the shared one: each is a
 * `redis-server` child process on a free port, in memory only
 * (`--save "" --appendonly no`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

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

/** Every key under `prefix`, as bytes (session keys hold raw hash bytes), found with SCAN. */
export async function keysUnder(redis: Redis, prefix: string): Promise<Buffer[]> {
  const found: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next.toString();
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Delete every key under `prefix` (SCAN, never KEYS). */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000));
}

/** A redis-server child process on its own port. */
export class ThrowawayRedis {
  readonly port: number;
  /** A one-node Redis Cluster owning all 16384 slots, instead of a standalone server. */
  readonly isCluster: boolean;
  #process: ChildProcess | undefined;

  private constructor(port: number, isCluster: boolean) {
    this.port = port;
    this.isCluster = isCluster;
  }

  /** Start a server on a free port and wait until it answers (and, for a cluster, until it is ok). */
  static async start(options: { readonly cluster?: boolean } = {}): Promise<ThrowawayRedis> {
    const server = new ThrowawayRedis(await freePort(), options.cluster === true);
    await server.restart();
    if (server.isCluster) await server.#formCluster();
    return server;
  }

  get #clusterConfig(): string {
    return join(tmpdir(), `lapse-test-cluster-${this.port}.conf`);
  }

  async #formCluster(): Promise<void> {
    const admin = new Redis(this.port, '127.0.0.1', { lazyConnect: true });
    try {
      await admin.connect();
      const slots = Array.from({ length: 16384 }, (_, slot) => slot);
      await admin.call('CLUSTER', 'ADDSLOTS', ...slots);
      const deadline = Date.now() + 10_000;
      while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('the one-node cluster did not become ok');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      admin.disconnect();
    }
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
        ...(this.isCluster
          ? [
              '--cluster-enabled',
              'yes',
              '--cluster-announce-ip',
              '127.0.0.1',
              '--cluster-config-file',
              this.#clusterConfig,
            ]
          : []),
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

  /** Freeze it (SIGSTOP): connections stay open and nothing answers, like a hung host. */
  pause(): void {
    this.#process?.kill('SIGSTOP');
  }

  /** Thaw a paused server (SIGCONT). */
  resume(): void {
    this.#process?.kill('SIGCONT');
  }

  /** Stop it (SIGKILL: an abrupt outage, not a clean shutdown) and wait for the process to exit. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      child.kill('SIGCONT');
      await exited;
    }
    if (this.isCluster) rmSync(this.#clusterConfig, { force: true });
  }
}
