// Stores benchmark: check+touch per second and p99 latency for the memory,
// SQLite and Redis stores, at 1 and at 50 concurrent callers, against the peer
// pattern on the same Redis with the same number of sessions; then Redis
// memory per session and Redis commands per check.
//
//   npm run build && node --expose-gc bench/stores/check-touch.mjs [--json] [--seconds 3]
//     [--sessions 100000] [--rounds 3] [--redis-url redis://127.0.0.1:6379]
//
// RedisStore and the peer run in alternating rounds (--rounds, 3 by default)
// and each cell reports the median round: on a shared machine a single
// round of either can land on a noisy moment.
//
// The peer: what `express-session` (rolling: true) with `connect-redis` sends
// to Redis on every request: `GET sess:<id>`, `JSON.parse`, then
// `EXPIRE sess:<id> <ttl>` (connect-redis's `touch`), two round trips. Neither
// package is a dependency of lapse, so the bench sends exactly those commands
// with ioredis.
//
// By default it starts its own throwaway `redis-server` (free port, in memory:
// --save "" --appendonly no), so INFO memory and INFO commandstats see only
// this run. With --redis-url it uses that server instead (FLUSHALL is never
// sent; memory deltas are then only as clean as the server is quiet).
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';

const { CompiledPolicy, MemoryStore, generateSessionId, hashSessionId } = await import(
  new URL('../../dist/index.js', import.meta.url).href
);
const { RedisStore } = await import(
  new URL('../../dist/store/redis/index.js', import.meta.url).href
);
const sqliteEntry = new URL('../../dist/store/sqlite/index.js', import.meta.url);
const SqliteStore = existsSync(sqliteEntry)
  ? (await import(sqliteEntry.href)).SqliteStore
  : undefined;

function parseArgs(argv) {
  const args = { json: false, seconds: 3, sessions: 100_000, rounds: 3, redisUrl: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') args.json = true;
    else if (arg === '--seconds') args.seconds = Number(argv[++i]);
    else if (arg === '--sessions') args.sessions = Number(argv[++i]);
    else if (arg === '--rounds') args.rounds = Number(argv[++i]);
    else if (arg === '--redis-url') args.redisUrl = String(argv[++i]);
    else {
      console.error(`unknown argument ${arg}`);
      process.exit(2);
    }
  }
  if (!(args.seconds > 0) || !Number.isSafeInteger(args.sessions) || args.sessions < 1) {
    console.error('usage: check-touch.mjs [--json] [--seconds S] [--sessions N] [--redis-url URL]');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const log = (message) => {
  if (!args.json) console.error(message);
};

const MINUTE = 60_000;
const IDLE_MS = 15 * MINUTE;
const policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: IDLE_MS, absoluteMs: 8 * 60 * MINUTE, warnMs: 2 * MINUTE },
  ceilings: {},
  rules: [
    { name: 'admins', match: { roles: ['admin'] }, idleMs: 5 * MINUTE, absoluteMs: 60 * MINUTE },
    { name: 'production', match: { environment: ['production'] }, idleMs: 10 * MINUTE },
  ],
  passive: [],
};
const contextPolicy = new CompiledPolicy(policy).forContext({ environment: 'production' });

/** One in ten sessions is an admin; each has its own subject (as in bench/core). */
function draftFor(i) {
  return { subject: `user-${i}`, roles: i % 10 === 0 ? ['admin', 'dev'] : ['dev'] };
}

/** What express-session stores for such a session (cookie plus the app's fields), as JSON. */
function peerSessionFor(i) {
  return JSON.stringify({
    cookie: {
      originalMaxAge: IDLE_MS,
      expires: new Date(Date.now() + IDLE_MS).toISOString(),
      secure: true,
      httpOnly: true,
      path: '/',
      sameSite: 'lax',
    },
    userId: `user-${i}`,
    roles: i % 10 === 0 ? ['admin', 'dev'] : ['dev'],
  });
}

/** xorshift32: cheap, seeded, so every run picks the same sessions. */
function random(seed) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

/* ---------------------------------------------------------------- a throwaway redis-server */

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function answersPing(port) {
  return new Promise((resolve) => {
    const socket = new Socket();
    const finish = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(200, () => finish(false));
    socket.once('error', () => finish(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => finish(data.toString().startsWith('+PONG')));
  });
}

async function startRedis() {
  if (args.redisUrl !== undefined) return { url: args.redisUrl, stop: async () => undefined };
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  let failed;
  child.once('error', (error) => {
    failed = error;
  });
  for (let i = 0; i < 100 && !(await answersPing(port)); i++) {
    if (failed !== undefined) {
      console.error(`cannot start redis-server (${failed.message}); pass --redis-url`);
      process.exit(2);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/* ---------------------------------------------------------------- measuring */

/** Latencies in ms, in a growable typed array (no per-sample allocation). */
class Samples {
  constructor() {
    this.values = new Float64Array(1 << 20);
    this.length = 0;
  }
  push(value) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
  quantile(q) {
    const sorted = this.values.subarray(0, this.length).sort();
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }
}

/** Run `step(idHash)` from `callers` async loops for `seconds`; checks per second and p99 latency. */
async function measure(keys, callers, step) {
  // Warm up (JIT, script cache, connection) before the clock starts.
  for (let i = 0; i < 200; i++) await step(keys[i % keys.length]);
  globalThis.gc?.();
  const samples = new Samples();
  const started = performance.now();
  const deadline = started + args.seconds * 1000;
  let calls = 0;
  const loop = async (seed) => {
    const next = random(seed);
    let now = performance.now();
    while (now < deadline) {
      const key = keys[(next() * keys.length) | 0];
      await step(key);
      const done = performance.now();
      samples.push(done - now);
      now = done;
      calls++;
    }
  };
  await Promise.all(Array.from({ length: callers }, (_, i) => loop(i + 1)));
  const elapsed = (performance.now() - started) / 1000;
  return { checksPerSecond: calls / elapsed, p99Ms: samples.quantile(0.99) };
}

async function fill(count, create, parallel = 64) {
  let next = 0;
  const worker = async () => {
    while (next < count) await create(next++);
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** Redis's own CPU time so far (user + system), in microseconds. */
async function redisCpuMicros(redis) {
  const info = await redis.info('cpu');
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)[1]);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

async function usedMemory(redis) {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)[1]);
}

async function commandCalls(redis) {
  const info = await redis.info('commandstats');
  const calls = {};
  for (const [, name, count] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (name !== 'info' && !name.startsWith('config')) calls[name] = Number(count);
  }
  return calls;
}

function touchOrFail(result) {
  if (result.outcome !== 'active')
    throw new Error(`session not active in the bench: ${result.outcome}`);
}

/* ---------------------------------------------------------------- the run */

const n = args.sessions;
const redisServer = await startRedis();
const admin = new Redis(redisServer.url);
const results = [];
const ids = Array.from({ length: n }, () => hashSessionId(generateSessionId()));

async function createSessions(name, store) {
  log(`${name}: creating ${n.toLocaleString('en-US')} sessions`);
  await fill(n, async (i) => {
    const created = await store.create(ids[i], draftFor(i), contextPolicy);
    if (created.outcome !== 'created') throw new Error(`create: ${created.outcome}`);
  });
}

async function measureStore(name, store) {
  for (const callers of [1, 50]) {
    log(`${name}: ${callers} caller(s)`);
    const cell = await measure(ids, callers, async (idHash) =>
      touchOrFail(await store.access(idHash, 'touch', contextPolicy)),
    );
    results.push({ store: name, callers, ...cell });
  }
}

async function benchStore(name, store) {
  await createSessions(name, store);
  await measureStore(name, store);
}

// memory
{
  const store = new MemoryStore();
  await benchStore('memory', store);
  await store.close();
}

// sqlite, when the build has it
let sqliteNote = null;
if (SqliteStore === undefined) {
  sqliteNote = 'skipped: dist/store/sqlite/index.js is not in this build';
  log(`sqlite: ${sqliteNote}`);
} else {
  const path = join(tmpdir(), `lapse-bench-${process.pid}.db`);
  const store = new SqliteStore({ path });
  try {
    await benchStore('sqlite', store);
  } finally {
    await store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
}

// redis and the peer: the same Redis, the same sessions (ids), alternating rounds
const keyPrefix = 'lapse:';
// The store keys a session by the first 37 characters of its idHash (src/store/redis/keys.ts).
const sessionKey = (idHash) => `${keyPrefix}s${idHash.slice(0, 37)}`;
const memory = { sessions: n };
const peer = {};
const store = new RedisStore({ redis: redisServer.url, keyPrefix });
await store.ready();
const beforeLapse = await usedMemory(admin);
await createSessions('redis', store);
// The sweep files each new session's shard under its real time once; let it settle.
await store.sweep();
memory.bytesPerSessionCreated = ((await usedMemory(admin)) - beforeLapse) / n;

const peerRedis = new Redis(redisServer.url);
const ttlSeconds = IDLE_MS / 1000;
const beforePeer = await usedMemory(admin);
log(`peer: writing ${n.toLocaleString('en-US')} sessions`);
await fill(n, async (i) => {
  await peerRedis.set(`sess:${ids[i]}`, peerSessionFor(i), 'EX', ttlSeconds);
});
peer.usedMemoryDelta = (await usedMemory(admin)) - beforePeer;
peer.bytesPerSession = peer.usedMemoryDelta / n;
const peerCheck = async (idHash) => {
  const key = `sess:${idHash}`;
  const raw = await peerRedis.get(key);
  if (raw === null) throw new Error('peer session missing');
  const session = JSON.parse(raw);
  if (session.cookie === undefined) throw new Error('peer session malformed');
  await peerRedis.expire(key, ttlSeconds);
};
const lapseCheck = async (idHash) =>
  touchOrFail(await store.access(idHash, 'touch', contextPolicy));

const rounds = { redis: { 1: [], 50: [] }, peer: { 1: [], 50: [] } };
for (let round = 0; round < args.rounds; round++) {
  for (const callers of [1, 50]) {
    const order = round % 2 === 0 ? ['redis', 'peer'] : ['peer', 'redis'];
    for (const name of order) {
      log(`${name}: ${callers} caller(s), round ${round + 1} of ${args.rounds}`);
      const step = name === 'redis' ? lapseCheck : peerCheck;
      // CPU per check on each side: steadier than wall time on a shared machine.
      const nodeBefore = process.cpuUsage();
      const redisBefore = await redisCpuMicros(admin);
      const cell = await measure(ids, callers, step);
      const checks = cell.checksPerSecond * args.seconds;
      const node = process.cpuUsage(nodeBefore);
      cell.nodeCpuMicros = (node.user + node.system) / checks;
      cell.redisCpuMicros = ((await redisCpuMicros(admin)) - redisBefore) / checks;
      rounds[name][callers].push(cell);
    }
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (const [name, label] of [
  ['redis', 'redis'],
  ['peer', 'peer (connect-redis)'],
]) {
  for (const callers of [1, 50]) {
    const cells = rounds[name][callers];
    results.push({
      store: label,
      callers,
      checksPerSecond: median(cells.map((c) => c.checksPerSecond)),
      p99Ms: median(cells.map((c) => c.p99Ms)),
      nodeCpuMicros: median(cells.map((c) => c.nodeCpuMicros)),
      redisCpuMicros: median(cells.map((c) => c.redisCpuMicros)),
      rounds: cells.map((c) => Math.round(c.checksPerSecond)),
    });
  }
}

// Steady state: most sessions have been touched. The peer's keys (EXPIRE
// changes no size) are taken out of the delta.
await store.sweep();
memory.usedMemoryDelta = (await usedMemory(admin)) - beforeLapse - peer.usedMemoryDelta;
memory.bytesPerSession = memory.usedMemoryDelta / n;
const sample = async (key) => Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
let sessionBytes = 0;
for (let i = 0; i < 1000; i++) sessionBytes += await sample(sessionKey(ids[i]));
memory.sessionKeyBytes = sessionBytes / 1000;
memory.sampleValue = await admin.get(sessionKey(ids[1]));
let indexBytes = 0;
for (let shard = 0; shard < 4096; shard++) {
  indexBytes += Number((await sample(`${keyPrefix}i:${shard}`)) || 0);
}
memory.indexBytesPerSession = indexBytes / n;
memory.queueBytesPerSession = (await sample(`${keyPrefix}q`)) / n;
memory.indexEncoding = await admin.object('ENCODING', `${keyPrefix}i:0`);

// Commands per check, with no sweep timer running (its own scripts would count too).
await store.close();
const quiet = new RedisStore({ redis: redisServer.url, keyPrefix, sweepIntervalMs: 0 });
await quiet.ready();
for (let i = 0; i < 10; i++) touchOrFail(await quiet.access(ids[i], 'touch', contextPolicy));
const checks = 2_000;
await admin.config('RESETSTAT');
for (let i = 0; i < checks; i++) {
  touchOrFail(await quiet.access(ids[i % n], i % 3 === 0 ? 'peek' : 'touch', contextPolicy));
}
memory.commands = { checks, calls: await commandCalls(admin) };
await quiet.close();
await admin.config('RESETSTAT');
for (let i = 0; i < checks; i++) await peerCheck(ids[i % n]);
peer.commands = { checks, calls: await commandCalls(admin) };
await peerRedis.quit();

await admin.quit();
await redisServer.stop();

/* ---------------------------------------------------------------- report */

const cell = (store, callers) => results.find((r) => r.store === store && r.callers === callers);
// Commandstats also counts what a script runs inside Redis; a client sent only EVALSHA (or EVAL).
const redisClientCommands =
  (memory.commands.calls.evalsha ?? 0) + (memory.commands.calls.eval ?? 0);
const redisCommandsPerCheck = redisClientCommands / memory.commands.checks;
const peerCommandsPerCheck =
  ((peer.commands.calls.get ?? 0) + (peer.commands.calls.expire ?? 0)) / peer.commands.checks;
const ratios = {
  callers1: cell('redis', 1).checksPerSecond / cell('peer (connect-redis)', 1).checksPerSecond,
  callers50: cell('redis', 50).checksPerSecond / cell('peer (connect-redis)', 50).checksPerSecond,
};
const summary = {
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  seconds: args.seconds,
  rounds: args.rounds,
  sessions: n,
  redis: args.redisUrl ?? 'throwaway redis-server',
  sqlite: sqliteNote,
  results: results.map((r) => ({
    ...r,
    checksPerSecond: Math.round(r.checksPerSecond),
    p99Ms: Number(r.p99Ms.toFixed(3)),
    ...(r.nodeCpuMicros === undefined
      ? {}
      : {
          nodeCpuMicros: Number(r.nodeCpuMicros.toFixed(1)),
          redisCpuMicros: Number(r.redisCpuMicros.toFixed(1)),
        }),
  })),
  redisVsPeer: ratios,
  redisMemory: {
    ...memory,
    bytesPerSession: Math.round(memory.bytesPerSession),
    bytesPerSessionCreated: Math.round(memory.bytesPerSessionCreated),
    sessionKeyBytes: Math.round(memory.sessionKeyBytes),
    indexBytesPerSession: Number(memory.indexBytesPerSession.toFixed(1)),
    queueBytesPerSession: Number(memory.queueBytesPerSession.toFixed(2)),
    peerBytesPerSession: Math.round(peer.bytesPerSession),
    usedMemoryDelta: memory.usedMemoryDelta,
  },
  commandsPerCheck: {
    redisStore: redisCommandsPerCheck,
    redisStoreInsideScripts: memory.commands.calls,
    peer: peerCommandsPerCheck,
  },
  targets: {
    oneCommandPerCheck: redisCommandsPerCheck === 1,
    atLeast1_5xPeer: { callers1: ratios.callers1 >= 1.5, callers50: ratios.callers50 >= 1.5 },
    under300BytesPerSession: memory.bytesPerSession < 300,
  },
};

if (args.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  const fmt = (value) => value.toLocaleString('en-US');
  const rows = summary.results.map((r) => [
    r.store,
    String(r.callers),
    fmt(r.checksPerSecond),
    r.p99Ms.toFixed(3),
    r.nodeCpuMicros === undefined ? '' : `${r.nodeCpuMicros} + ${r.redisCpuMicros}`,
    r.rounds === undefined ? '' : r.rounds.map(fmt).join(' / '),
  ]);
  const header = [
    'store',
    'callers',
    'check+touch/s',
    'p99 ms',
    'CPU µs/check node + redis',
    'rounds (median shown)',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) =>
    `| ${cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  if (sqliteNote !== null) console.log(`\nsqlite: ${sqliteNote}`);
  const m = summary.redisMemory;
  console.log(
    `\nredis / peer throughput: ${ratios.callers1.toFixed(2)}x at 1 caller, ${ratios.callers50.toFixed(2)}x at 50 callers`,
  );
  console.log(
    `redis memory at ${fmt(n)} sessions: ${fmt(m.bytesPerSession)} bytes/session after the touches (used_memory delta / N), ${fmt(m.bytesPerSessionCreated)} just created; ` +
      `session key ${m.sessionKeyBytes} B (MEMORY USAGE, 1000 samples), index ${m.indexBytesPerSession} B/session (${m.indexEncoding}), queue ${m.queueBytesPerSession} B/session; ` +
      `peer ${fmt(m.peerBytesPerSession)} bytes/session`,
  );
  console.log(
    `sample packed record: ${JSON.stringify(m.sampleValue)} (${m.sampleValue.length} bytes)`,
  );
  console.log(
    `commands per check: RedisStore ${redisCommandsPerCheck.toFixed(2)} (EVALSHA; commandstats ${JSON.stringify(memory.commands.calls)} counts the script's own TIME/GET/SET too), peer ${peerCommandsPerCheck.toFixed(2)} (GET + EXPIRE)`,
  );
  const mark = (ok) => (ok ? 'met' : 'NOT met');
  console.log(
    `targets: one Redis command per check ${mark(summary.targets.oneCommandPerCheck)}; ` +
      `>= 1.5x peer ${mark(summary.targets.atLeast1_5xPeer.callers1)} at 1 caller, ${mark(summary.targets.atLeast1_5xPeer.callers50)} at 50; ` +
      `< 300 bytes/session ${mark(summary.targets.under300BytesPerSession)}`,
  );
}
