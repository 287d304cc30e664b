// Gateway benchmark: what the lapse gateway (`lapse serve`) costs as a reverse
// proxy, against the same upstream reached directly, through a plain Node
// proxy without enforcement (http-proxy) and through nginx, in one run.
//
//   npm run bench:gateway                        # build, then the tables
//   BENCH_DURATION=3 npm run bench:gateway       # a quick run
//
// 1. HTTP throughput: autocannon, same settings for every target, against a tiny
//    node:http upstream (`hello world`, keep-alive): directly; through the lapse
//    gateway (identity upstream mode, one session signed in through the upstream's
//    `Lapse-Begin`, its cookie on every request; memory store, then sqlite; and with
//    metrics, audit log and anomaly detection on, as `lapse serve` runs it); through
//    http-proxy (no enforcement); through nginx (skipped if not installed).
// 2. Added latency at a fixed rate (1000 req/s, 10 connections): direct and through
//    the gateway, with autocannon's overallRate and with an evenly paced load.
// 3. ~10,000 idle WebSockets through the gateway, one session each: gateway heap
//    per connection, and how late after its session's idle deadline each one is
//    closed with 4401 (see websockets.mjs).
// Any error, timeout or non-2xx answer fails the run (a 401 from the gateway with
// its own message: the cookie was not accepted). The JSON goes to the OS temp dir.
//
// Environment (all optional):
//   BENCH_DURATION=10        measured seconds per HTTP target (and for the fixed-rate runs)
//   BENCH_WARMUP=2           warm-up seconds per HTTP target, not measured
//   BENCH_ROUNDS=5           slices the measured seconds are taken in, round-robin over targets
//   BENCH_MAX_BACKGROUND=25  a slice during which other processes used more than this % of a
//                            core is thrown away and taken again (at most twice)
//   BENCH_CONNECTIONS=50     autocannon connections for the throughput runs
//   BENCH_RATE=1000          requests/s of the fixed-rate runs (10 connections)
//   BENCH_WS_CONNECTIONS=10000  idle WebSockets (fewer if `ulimit -n` cannot hold them)
//   BENCH_WS_IDLE=20         idle timeout of the WebSocket sessions, s
//   BENCH_PHASES=http,rate,ws   which parts to run
//   BENCH_TARGETS=direct,gateway,gateway-observed,gateway-sqlite,http-proxy,nginx   which HTTP targets
//   BENCH_CPU_PROF=DIR       write a V8 CPU profile of each gateway child to DIR and
//                            print its top self-time functions (slows the gateway down)
//
// Placement on the 2-core reference machine: autocannon runs here, in the
// parent; the upstream runs in a child; each proxy runs in its own child
// (nginx: its own master + one worker). All run for the whole HTTP phase, but
// only one target is under load at a time (idle servers cost nothing). Each
// target's measured seconds are taken in slices, round-robin across targets
// with the order rotated each round: on a shared machine, a burst of load from
// another process then lands on every target alike instead of on one.
// CPU time of every process is read from /proc, so each row also says how
// many µs of CPU the proxy, the upstream and the load generator spent per request.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machineBusyMicros, machineInfo } from '../enforce/machine.mjs';
import { fmt, table } from '../shared/report.mjs';
import { cannon, paced, Samples } from './load.mjs';
import { hasNginx, NGINX, nginxVersion, startNginx } from './nginx.mjs';
import {
  cpuMicros,
  killChildren,
  openFileLimit,
  removeAtExit,
  startNodeChild,
} from './processes.mjs';
import { formatProfile, summarizeProfile } from './profile.mjs';
import { idleWebSocketPhase, webSocketBudget, webSocketGatewayYaml } from './websockets.mjs';

const here = (file) => new URL(file, import.meta.url);

function envNumber(name, fallback, { min = 1, integer = true } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!(value >= min) || (integer && !Number.isInteger(value))) {
    console.error(`${name}=${raw}: use a whole number >= ${min}`);
    process.exit(2);
  }
  return value;
}

const PHASES = ['http', 'rate', 'ws'];
const TARGET_NAMES = [
  'direct',
  'gateway',
  'gateway-observed',
  'gateway-sqlite',
  'http-proxy',
  'nginx',
];
const options = {
  durationSeconds: envNumber('BENCH_DURATION', 10),
  rounds: 0,
  warmupSeconds: envNumber('BENCH_WARMUP', 2, { min: 0 }),
  connections: envNumber('BENCH_CONNECTIONS', 50),
  rate: envNumber('BENCH_RATE', 1000),
  rateConnections: 10,
  wsConnectionsWanted: envNumber('BENCH_WS_CONNECTIONS', 10_000),
  wsIdleSeconds: envNumber('BENCH_WS_IDLE', 20),
  wsOpenConcurrency: 100,
  maxBackgroundPercent: envNumber('BENCH_MAX_BACKGROUND', 25, { min: 0 }),
  phases: (process.env.BENCH_PHASES ?? PHASES.join(',')).split(',').filter(Boolean),
  targets: (process.env.BENCH_TARGETS ?? TARGET_NAMES.join(',')).split(',').filter(Boolean),
  cpuProfDir: process.env.BENCH_CPU_PROF || undefined,
};
// The measured seconds of each target are taken in `rounds` slices, round-robin across
// the targets: a burst of CPU from another process then lands on all targets alike.
options.rounds = envNumber('BENCH_ROUNDS', Math.min(5, options.durationSeconds));
for (const name of options.targets) {
  if (!TARGET_NAMES.includes(name)) {
    console.error(`BENCH_TARGETS: unknown target ${name}; use ${TARGET_NAMES.join(',')}`);
    process.exit(2);
  }
}
for (const phase of options.phases) {
  if (!PHASES.includes(phase)) {
    console.error(`BENCH_PHASES: unknown phase ${phase}; use ${PHASES.join(',')}`);
    process.exit(2);
  }
}
/** The command that reproduces this run. */
const command = [
  ...Object.entries(process.env)
    .filter(([name]) => name.startsWith('BENCH_'))
    .sort()
    .map(([name, value]) => `${name}=${value}`),
  'npm run bench:gateway',
].join(' ');

const log = (line) => console.error(`[bench:gateway] ${line}`);

// -- targets ---------------------------------------------------------------

const LOGIN_PATH = '/login';
const DATA_PATH = '/hello';
const BODY = 'hello world';

/** The gateway's lapse.yaml for the throughput runs: idle 1h, `store` as given. */
function throughputGatewayYaml(upstreamUrl, store) {
  return [
    'version: 1',
    'policy:',
    '  defaults: { idle: 1h, absolute: 8h }',
    `store: ${store}`,
    'identity: { mode: upstream }',
    'gateway:',
    '  listen: 127.0.0.1:0',
    `  loginUrl: ${LOGIN_PATH}`,
    '  development: true',
    '  routes:',
    `    - { path: /, upstream: "${upstreamUrl}" }`,
    '',
  ].join('\n');
}

function gatewayExecArgv(profileName) {
  const argv = ['--expose-gc'];
  if (options.cpuProfDir !== undefined) {
    argv.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`);
    argv.push(`--cpu-prof-name=${profileName}.cpuprofile`);
  }
  return argv;
}

/**
 * Start a gateway child from `yaml`; a target handle. `observe`: with metrics,
 * the audit log (to a file, synchronous writes) and anomaly detection on, as
 * `lapse serve` runs them.
 */
async function startGateway(name, yaml, observe = false) {
  const auditFile = observe
    ? join(mkdtempSync(join(tmpdir(), 'lapse-bench-audit-')), 'audit.log')
    : undefined;
  if (auditFile !== undefined) removeAtExit(join(auditFile, '..'));
  const child = await startNodeChild(name, here('./gateway-child.mjs'), {
    execArgv: gatewayExecArgv(name),
    init: { cmd: 'start', yaml, auditFile },
  });
  return { child, url: child.info.url, pids: () => [child.pid], stop: child.stop };
}

/**
 * The HTTP targets, in the order they are started. `start(upstream)` resolves
 * with `{ url, pids(), stop() }`; `isEnforced` targets are signed in once and
 * every request carries the session cookie.
 */
function httpTargets() {
  const targets = [
    {
      name: 'direct',
      label: 'upstream directly (node:http)',
      start: (upstream) => ({ url: upstream.url, pids: () => [], stop: async () => {} }),
      isRateTarget: true,
    },
    {
      name: 'gateway',
      label: 'lapse gateway, memory store',
      start: (upstream) =>
        startGateway('gateway', throughputGatewayYaml(upstream.url, '{ type: memory }')),
      isEnforced: true,
      isRateTarget: true,
    },
    {
      name: 'gateway-observed',
      label: 'lapse gateway, memory store, metrics + audit + anomalies on',
      start: (upstream) =>
        startGateway(
          'gateway-observed',
          throughputGatewayYaml(upstream.url, '{ type: memory }'),
          true,
        ),
      isEnforced: true,
      isRateTarget: true,
    },
    {
      name: 'gateway-sqlite',
      label: 'lapse gateway, sqlite store',
      start: (upstream) => {
        const dir = mkdtempSync(join(tmpdir(), 'lapse-bench-sqlite-'));
        removeAtExit(dir);
        const store = `{ type: sqlite, path: "${join(dir, 'lapse.db')}" }`;
        return startGateway('gateway-sqlite', throughputGatewayYaml(upstream.url, store));
      },
      isEnforced: true,
    },
    {
      name: 'http-proxy',
      label: 'http-proxy (Node, no enforcement)',
      start: async (upstream) => {
        const child = await startNodeChild('http-proxy', here('./http-proxy.mjs'), {
          args: [upstream.url],
        });
        return {
          url: `http://127.0.0.1:${child.info.port}`,
          pids: () => [child.pid],
          stop: child.stop,
        };
      },
    },
    {
      name: 'nginx',
      label: 'nginx (1 worker, keepalive 64)',
      start: (upstream) => startNginx(upstream.port),
      isAvailable: hasNginx,
    },
  ];
  return targets.filter((target) => options.targets.includes(target.name));
}

// -- checks ------------------------------------------------------------------

function fail(message) {
  throw new Error(message);
}

async function get(url, headers = {}) {
  const response = await fetch(`${url}${DATA_PATH}`, { headers });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Sign in once through the gateway; the `lapse_sid=...` pair. */
async function signIn(target, url) {
  const response = await fetch(`${url}${LOGIN_PATH}`, { method: 'POST' });
  await response.arrayBuffer();
  if (response.status !== 200) {
    fail(`${target.name}: POST ${LOGIN_PATH} answered ${response.status}`);
  }
  const pair = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .find((p) => p.startsWith('lapse_sid='));
  if (pair === undefined) fail(`${target.name}: sign-in set no lapse_sid cookie`);
  return pair;
}

/** The target answers the upstream's body; an enforced one only with the cookie. */
async function verify(target, url, cookie) {
  const answer = await get(url, cookie === undefined ? {} : { cookie });
  if (answer.status !== 200 || answer.body !== BODY) {
    fail(`${target.name}: GET ${DATA_PATH} answered ${answer.status} ${answer.body.slice(0, 80)}`);
  }
  if (cookie !== undefined) {
    if (!answer.headers.has('lapse-session')) {
      fail(`${target.name}: a checked request got no Lapse-Session header`);
    }
    const anonymous = await get(url);
    if (anonymous.status !== 401) {
      fail(`${target.name}: GET ${DATA_PATH} without a session answered ${anonymous.status}`);
    }
  }
}

/** No error, timeout or non-2xx answer; a 401 from the gateway gets its own message. */
function checkClean(target, result, phase) {
  if (target.isEnforced && (result.statusCodes[401] ?? 0) > 0) {
    fail(
      `${target.name}: the gateway answered 401 ${result.statusCodes[401]} times during ${phase}: ` +
        'the lapse_sid cookie was not accepted, so this run measured rejections, not proxying',
    );
  }
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    fail(
      `${target.name}: ${phase} had ${result.non2xx} non-2xx, ${result.errors} errors, ` +
        `${result.timeouts} timeouts (status codes ${JSON.stringify(result.statusCodes)})` +
        (result.firstError === undefined ? '' : `; first error: ${result.firstError}`),
    );
  }
  if (result.responses === 0) fail(`${target.name}: ${phase} got no answer at all`);
}

// -- measuring ---------------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * This machine may be shared: wait (up to `maxSeconds`) for a second in which the
 * rest of it used less than `maxPercent` of a core. Returns the last second's figure.
 */
async function waitForQuiet(maxSeconds = 30, maxPercent = 20) {
  let busyPercent;
  for (let waited = 0; waited < maxSeconds; waited++) {
    const before = machineBusyMicros();
    await sleep(1000);
    const after = machineBusyMicros();
    if (before === undefined || after === undefined) return undefined;
    busyPercent = (after - before) / 10_000;
    if (busyPercent < maxPercent) return busyPercent;
    if (waited === 0) log(`the machine is busy (${fmt(busyPercent)}% of a core): waiting`);
  }
  log(`still busy after ${maxSeconds} s (${fmt(busyPercent)}% of a core): measuring anyway`);
  return busyPercent;
}

/** CPU time so far of the target's processes, the upstream, this process and the machine, µs. */
function cpuSnapshot(state, upstream) {
  const pids = state.server.pids();
  const own = process.cpuUsage();
  return {
    proxy: pids.length === 0 ? 0 : cpuMicros(pids),
    upstream: cpuMicros([upstream.pid]),
    client: own.user + own.system,
    machine: machineBusyMicros(),
    at: performance.now(),
  };
}

/** A fresh accumulator of measured runs. */
function tally() {
  return {
    latencies: new Samples(),
    responses: 0,
    seconds: 0,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    statusCodes: {},
    bytes: 0,
    cpu: { proxy: 0, upstream: 0, client: 0, background: 0, elapsed: 0 },
  };
}

/** Add one slice's figures to an accumulator. */
function merge(into, slice) {
  into.latencies.append(slice.latencies);
  for (const key of ['responses', 'seconds', 'non2xx', 'errors', 'timeouts', 'bytes']) {
    into[key] += slice[key];
  }
  for (const [code, n] of Object.entries(slice.statusCodes)) {
    into.statusCodes[code] = (into.statusCodes[code] ?? 0) + n;
  }
  for (const key of Object.keys(into.cpu)) into.cpu[key] += slice.cpu[key];
  if (slice.maxSendDelayMs !== undefined) {
    into.maxSendDelayMs = Math.max(into.maxSendDelayMs ?? 0, slice.maxSendDelayMs);
  }
  into.slices = (into.slices ?? 0) + 1;
}

/** Run `load(latencies)` once: its counts, latencies and the CPU time of every process. */
async function measureSlice(state, upstream, load) {
  const slice = tally();
  const before = cpuSnapshot(state, upstream);
  const result = await load(slice.latencies);
  const after = cpuSnapshot(state, upstream);
  checkClean(state.target, result, 'a measured run');
  slice.responses = result.responses;
  slice.seconds = result.measuredSeconds;
  slice.non2xx = result.non2xx;
  slice.errors = result.errors;
  slice.timeouts = result.timeouts;
  slice.bytes = (result.bytesPerResponse ?? 0) * result.responses;
  slice.statusCodes = { ...result.statusCodes };
  slice.maxSendDelayMs = result.maxSendDelayMs;
  slice.cpu.proxy = after.proxy - before.proxy;
  slice.cpu.upstream = after.upstream - before.upstream;
  slice.cpu.client = after.client - before.client;
  slice.cpu.elapsed = (after.at - before.at) * 1000;
  // Everything else the machine did meanwhile: other processes, kernel threads.
  slice.cpu.background = Math.max(
    0,
    after.machine - before.machine - slice.cpu.proxy - slice.cpu.upstream - slice.cpu.client,
  );
  return slice;
}

/**
 * One slice into `into`. This machine may be shared: a slice during which the rest
 * of it used more than BENCH_MAX_BACKGROUND % of a core is thrown away and taken
 * again (at most twice; the third is kept whatever happened). Discards are counted.
 */
async function measureInto(into, state, upstream, load) {
  for (let attempt = 1; ; attempt++) {
    const slice = await measureSlice(state, upstream, load);
    const backgroundPercent = (100 * slice.cpu.background) / slice.cpu.elapsed;
    if (attempt >= 3 || !(backgroundPercent > options.maxBackgroundPercent)) {
      merge(into, slice);
      return;
    }
    into.discarded = (into.discarded ?? 0) + 1;
    log(
      `${state.target.name}: slice discarded, other processes used ` +
        `${fmt(backgroundPercent)}% of a core meanwhile; again`,
    );
    await sleep(1000);
  }
}

/** The figures of an accumulator. */
function summary(state, into) {
  const n = into.responses;
  return {
    requestsPerSecond: n / into.seconds,
    responses: n,
    measuredSeconds: into.seconds,
    non2xx: into.non2xx,
    errors: into.errors,
    timeouts: into.timeouts,
    statusCodes: into.statusCodes,
    bytesPerResponse: into.bytes / n,
    latencyMs: into.latencies.summary(),
    proxyCpuMicrosPerRequest: state.server.pids().length === 0 ? undefined : into.cpu.proxy / n,
    upstreamCpuMicrosPerRequest: into.cpu.upstream / n,
    clientCpuMicrosPerRequest: into.cpu.client / n,
    backgroundCpuPercent: Number.isNaN(into.cpu.background)
      ? undefined
      : (100 * into.cpu.background) / into.cpu.elapsed,
    ...(into.maxSendDelayMs === undefined ? {} : { maxSendDelayMs: into.maxSendDelayMs }),
    slices: into.slices ?? 0,
    discardedSlices: into.discarded ?? 0,
  };
}

/** Start a target, sign in when it enforces, check it answers as assumed. */
async function prepare(target, upstream) {
  log(`${target.name}: starting`);
  const server = await target.start(upstream);
  const state = { target, server };
  try {
    state.cookie = target.isEnforced ? await signIn(target, server.url) : undefined;
    await verify(target, server.url, state.cookie);
  } catch (error) {
    await server.stop();
    throw error;
  }
  state.load = {
    url: `${server.url}${DATA_PATH}`,
    headers: state.cookie === undefined ? {} : { cookie: state.cookie },
  };
  state.throughput = tally();
  return state;
}

/** Throughput: warm every target up, then measure in round-robin slices. */
async function throughputRuns(states, upstream) {
  const throughput = { ...states[0]?.load, connections: options.connections };
  for (const state of states) {
    if (options.warmupSeconds === 0) break;
    log(`${state.target.name}: warm-up ${options.warmupSeconds} s`);
    const warm = await cannon({
      ...throughput,
      ...state.load,
      seconds: options.warmupSeconds,
    });
    checkClean(state.target, warm, 'the warm-up');
  }
  const seconds = options.durationSeconds / options.rounds;
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order, so no target always follows the same one.
    const order = states.map((_, i) => states[(i + round) % states.length]);
    log(
      `round ${round + 1}/${options.rounds}: ${fmt(seconds, 1)} s each, ` +
        `${order.map((s) => s.target.name).join(', ')}`,
    );
    for (const state of order) {
      await measureInto(state.throughput, state, upstream, (latencies) =>
        cannon({ ...throughput, ...state.load, seconds, latencies }),
      );
    }
  }
  for (const state of states) state.results.throughput = summary(state, state.throughput);
}

/**
 * Latency at a fixed rate: autocannon's overallRate, then an evenly paced load,
 * each in round-robin slices over the rate targets like the throughput runs.
 */
async function rateRuns(states, upstream) {
  const seconds = options.durationSeconds / options.rounds;
  const runs = {
    fixedRate: (state, latencies) =>
      cannon({
        ...state.load,
        connections: options.rateConnections,
        seconds,
        overallRate: options.rate,
        latencies,
      }),
    paced: (state, latencies) =>
      paced({
        ...state.load,
        rate: options.rate,
        connections: options.rateConnections,
        seconds,
        latencies,
      }),
  };
  const targets = states.filter((s) => s.target.isRateTarget);
  for (const [key, run] of Object.entries(runs)) {
    const tallies = new Map(targets.map((state) => [state, tally()]));
    for (let round = 0; round < options.rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length]);
      log(
        `${key} ${options.rate}/s, round ${round + 1}/${options.rounds}: ${fmt(seconds, 1)} s ` +
          `each, ${order.map((s) => s.target.name).join(', ')}`,
      );
      for (const state of order) {
        await measureInto(tallies.get(state), state, upstream, (latencies) =>
          run(state, latencies),
        );
      }
    }
    for (const [state, into] of tallies) state.results[key] = summary(state, into);
  }
}

/** All HTTP measurements; every target's server runs from start to end (idle ones cost nothing). */
async function httpPhase(upstream, report) {
  const states = [];
  try {
    for (const target of httpTargets()) {
      if (target.isAvailable !== undefined && !target.isAvailable()) {
        const note = `${target.name} skipped: ${NGINX} is not installed`;
        log(note);
        report.skipped.push(note);
        continue;
      }
      if (!options.phases.includes('http') && !target.isRateTarget) continue;
      const state = await prepare(target, upstream);
      state.results = { name: target.name, label: target.label };
      states.push(state);
    }
    report.busyBeforePercent = await waitForQuiet();
    if (options.phases.includes('http')) await throughputRuns(states, upstream);
    if (options.phases.includes('rate')) await rateRuns(states, upstream);
    // Each session is still live after the load: every request was a touch, not a rejection.
    for (const state of states) await verify(state.target, state.server.url, state.cookie);
  } finally {
    for (const state of states) await state.server.stop();
  }
  report.http = states.map((state) => state.results);
}

async function webSocketPhase(upstream) {
  const budget = webSocketBudget(options.wsConnectionsWanted);
  if (budget.isLimited) {
    log(
      `websockets: ulimit -n is ${budget.limit}; the gateway holds two descriptors per ` +
        `connection, so ${budget.count} connections instead of ${options.wsConnectionsWanted}`,
    );
  }
  const gateway = await startNodeChild('gateway-ws', here('./gateway-child.mjs'), {
    execArgv: ['--expose-gc'],
    init: { cmd: 'start', yaml: webSocketGatewayYaml(upstream.url, options.wsIdleSeconds) },
  });
  try {
    const result = await idleWebSocketPhase({
      gateway,
      count: budget.count,
      idleSeconds: options.wsIdleSeconds,
      concurrency: options.wsOpenConcurrency,
      log,
    });
    return { ...result, wanted: options.wsConnectionsWanted, openFileLimit: budget.limit };
  } finally {
    await gateway.stop();
  }
}

// -- report ------------------------------------------------------------------

const RATIOS = [
  ['gateway-observed', 'gateway', 'observability on / off (target >= 0.95)'],
  ['gateway', 'http-proxy', 'gateway / plain Node proxy'],
  ['gateway', 'nginx', 'gateway / nginx'],
  ['gateway', 'direct', 'gateway / direct'],
  ['http-proxy', 'nginx', 'plain Node proxy / nginx'],
  ['gateway-sqlite', 'gateway', 'gateway sqlite / gateway memory'],
  ['gateway-sqlite', 'http-proxy', 'gateway sqlite / plain Node proxy'],
];

function ratiosOf(http) {
  const byName = new Map(http.filter((r) => r.throughput).map((r) => [r.name, r.throughput]));
  const ratios = [];
  for (const [a, b, label] of RATIOS) {
    const x = byName.get(a);
    const y = byName.get(b);
    if (x === undefined || y === undefined) continue;
    ratios.push({
      label,
      of: a,
      to: b,
      requestsPerSecond: x.requestsPerSecond / y.requestsPerSecond,
      p99: x.latencyMs.p99 / y.latencyMs.p99,
      proxyCpu:
        x.proxyCpuMicrosPerRequest === undefined || y.proxyCpuMicrosPerRequest === undefined
          ? undefined
          : x.proxyCpuMicrosPerRequest / y.proxyCpuMicrosPerRequest,
    });
  }
  return ratios;
}

function printReport(report) {
  const { machine, http, ratios, rate, webSockets, skipped } = report;
  console.log(
    `lapse gateway bench: ${machine.nproc} CPUs (${machine.cpu}), Node ${machine.node}, ` +
      `${report.nginxVersion ?? 'nginx: n/a'}\ncommand: ${command}\n`,
  );
  for (const note of skipped) console.log(`note: ${note}`);
  if (options.cpuProfDir !== undefined) {
    console.log('note: the gateway ran under --cpu-prof: its figures are slower than normal.');
  }
  const rows = http.filter((r) => r.throughput);
  if (rows.length > 0) {
    console.log(
      `\n1. HTTP throughput: GET ${DATA_PATH} ("${BODY}"), autocannon ${options.connections} ` +
        `connections, pipelining 1, ${options.warmupSeconds} s warm-up then ` +
        `${options.durationSeconds} s per target in ${options.rounds} round-robin slices, ` +
        'one target at a time\n',
    );
    console.log(
      table(
        [
          ['target', 'l', (r) => r.label],
          ['req/s', 'r', (r) => fmt(r.throughput.requestsPerSecond)],
          ['p50 ms', 'r', (r) => fmt(r.throughput.latencyMs.p50, 2)],
          ['p99 ms', 'r', (r) => fmt(r.throughput.latencyMs.p99, 2)],
          ['non-2xx', 'r', (r) => fmt(r.throughput.non2xx)],
          ['proxy CPU µs/req', 'r', (r) => fmt(r.throughput.proxyCpuMicrosPerRequest, 1)],
          ['upstream µs/req', 'r', (r) => fmt(r.throughput.upstreamCpuMicrosPerRequest, 1)],
          ['autocannon µs/req', 'r', (r) => fmt(r.throughput.clientCpuMicrosPerRequest, 1)],
          ['background CPU', 'r', (r) => `${fmt(r.throughput.backgroundCpuPercent)}%`],
          ['slices redone', 'r', (r) => fmt(r.throughput.discardedSlices)],
        ],
        rows,
      ),
    );
    console.log(
      "\nlatency: every 2xx response, µs precision (autocannon's own histogram is whole ms).\n" +
        'µs/req: CPU time (user+system, /proc) of that process over the run / responses.\n' +
        'background CPU: the rest of the machine meanwhile, % of one core (noise), over the kept slices.\n' +
        `slices redone: slices thrown away because the rest of the machine used > ${options.maxBackgroundPercent}% ` +
        'of a core meanwhile (each is taken again, at most twice).\n',
    );
    console.log(
      table(
        [
          ['ratio', 'l', (r) => r.label],
          ['req/s', 'r', (r) => fmt(r.requestsPerSecond, 3)],
          ['p99 latency', 'r', (r) => fmt(r.p99, 2)],
          ['proxy CPU µs/req', 'r', (r) => fmt(r.proxyCpu, 2)],
        ],
        ratios,
      ),
    );
    const busy = rows.filter((r) => r.throughput.backgroundCpuPercent > 20);
    if (busy.length > 0) {
      console.log(
        `\nwarning: other processes used > 20% of a core during ${busy.map((r) => r.name).join(', ')}; ` +
          'throughput, latency and ratios are noisy: run again on a quiet machine.',
      );
    }
  }
  if (rate.length > 0) {
    console.log(
      `\n2. Added latency at a fixed rate: ${options.rate} req/s, ${options.rateConnections} ` +
        `connections, ${options.durationSeconds} s per target in ${options.rounds} round-robin slices\n`,
    );
    console.log(
      table(
        [
          ['load', 'l', (r) => r.load],
          ['target', 'l', (r) => r.name],
          ['req/s', 'r', (r) => fmt(r.result.requestsPerSecond)],
          ['p50 ms', 'r', (r) => fmt(r.result.latencyMs.p50, 3)],
          ['p99 ms', 'r', (r) => fmt(r.result.latencyMs.p99, 3)],
          ['p99.9 ms', 'r', (r) => fmt(r.result.latencyMs.p999, 3)],
          ['max ms', 'r', (r) => fmt(r.result.latencyMs.max, 2)],
          ['proxy CPU µs/req', 'r', (r) => fmt(r.result.proxyCpuMicrosPerRequest, 1)],
          ['background CPU', 'r', (r) => `${fmt(r.result.backgroundCpuPercent)}%`],
          ['slices redone', 'r', (r) => fmt(r.result.discardedSlices)],
        ],
        rate.flatMap((r) => r.rows),
      ),
    );
    console.log('');
    for (const r of rate) {
      if (r.addedP99Ms === undefined) continue;
      console.log(
        `${r.load}: p99 added by the gateway = ${fmt(r.addedP99Ms, 3)} ms ` +
          `(p50 ${fmt(r.addedP50Ms, 3)} ms); target < 2 ms: ${r.addedP99Ms < 2 ? 'met' : 'NOT met'}`,
      );
    }
    console.log(
      '\nautocannon overallRate: each connection sends its share (rate / connections) back to back\n' +
        'at the start of every second, then waits: bursts at concurrency 10, not one request per ms.\n' +
        'paced: one request every 1/rate s (open loop, node:http keep-alive pool of 10); latency\n' +
        'from the send, so a wait for a free socket counts.',
    );
  }
  if (webSockets !== undefined) {
    const w = webSockets;
    console.log(
      `\n3. Idle WebSockets: ${fmt(w.connections)} connections through the gateway, one session ` +
        `each, memory store, idle ${w.idleSeconds} s, no traffic after the upgrade\n`,
    );
    if (w.connections < w.wanted) {
      console.log(
        `note: ${fmt(w.connections)}, not ${fmt(w.wanted)}: ulimit -n is ${w.openFileLimit} and ` +
          'the gateway holds two descriptors per connection (client + upstream).\n',
      );
    }
    const kb = (bytes) => `${fmt(bytes / 1024, 1)} KiB`;
    const lines = [
      ['sign-in of all sessions', `${fmt(w.signInSeconds, 1)} s`],
      [`upgrades (${w.openConcurrency} at a time)`, `${fmt(w.openSeconds, 1)} s`],
      ['open on the gateway after the upgrades', fmt(w.openOnGateway)],
      ['gateway heap per session (sign-in only)', kb(w.heapBytesPerSession)],
      ['gateway heap per connection (heapUsed delta / N, after gc)', kb(w.heapBytesPerConnection)],
      [
        'gateway off-heap per connection (external + arrayBuffers)',
        kb(w.offHeapBytesPerConnection),
      ],
      ['gateway RSS per connection', kb(w.rssBytesPerConnection)],
      ['heap left per connection once all closed', kb(w.heapBytesLeftPerConnectionAfterClose)],
      ['connections closed', `${fmt(w.closed)} of ${fmt(w.connections)}`],
      [
        'close codes',
        Object.entries(w.closeCodes)
          .map(([k, n]) => `${k} x${n}`)
          .join(', '),
      ],
      ['closed before the deadline (a bug)', fmt(w.early)],
      ['lateness after the deadline: p50', `${fmt(w.latenessMs.p50)} ms`],
      ['lateness after the deadline: p99', `${fmt(w.latenessMs.p99)} ms`],
      ['lateness after the deadline: max', `${fmt(w.latenessMs.max)} ms`],
      ['closed within 1 s of the deadline', `${fmt(w.withinOneSecond)} of ${fmt(w.connections)}`],
    ];
    console.log(
      table(
        [
          ['measure', 'l', ([k]) => k],
          ['value', 'r', ([, v]) => v],
        ],
        lines,
      ),
    );
    const allOnTime = w.withinOneSecond === w.connections && w.early === 0;
    console.log(
      `\ntarget: every connection closed within 1 s of its deadline, none early: ` +
        `${allOnTime ? 'met' : 'NOT met'}`,
    );
    console.log(
      "deadline: the session's lastActivityAt (the upgrade's touch, read from the gateway's store)\n" +
        `+ ${w.idleSeconds} s; lateness: the client's 'close' event minus that, same system clock.`,
    );
    if (w.openOnGateway < w.connections || w.closedDuringOpen > 0) {
      console.log(
        `warning: only ${w.openOnGateway} connections were open when the heap was measured ` +
          `(${w.closedDuringOpen} closed while opening): raise BENCH_WS_IDLE above the ` +
          `${fmt(w.signInSeconds + w.openSeconds, 0)} s sign-in and upgrades took`,
      );
    }
    if (w.touchOutsideUpgrade > 0 || w.storeMismatch > 0) {
      console.log(
        `warning: ${w.touchOutsideUpgrade} sessions last touched outside their upgrade, ` +
          `${w.storeMismatch} store records missing or with another idle deadline`,
      );
    }
  }
}

// -- main --------------------------------------------------------------------

async function main() {
  const machine = machineInfo();
  const report = {
    date: new Date().toISOString(),
    command,
    machine,
    options,
    skipped: [],
    http: [],
    ratios: [],
    rate: [],
  };
  if (options.cpuProfDir !== undefined) {
    options.cpuProfDir = mkdtempSync(join(options.cpuProfDir, 'lapse-gateway-prof-'));
  }
  log(`open files: ulimit -n ${openFileLimit()}`);
  const upstreamChild = await startNodeChild('upstream', here('./upstream.mjs'));
  const upstream = {
    pid: upstreamChild.pid,
    port: upstreamChild.info.port,
    url: `http://127.0.0.1:${upstreamChild.info.port}`,
  };
  try {
    if (options.phases.includes('http') || options.phases.includes('rate')) {
      await httpPhase(upstream, report);
      if (hasNginx()) report.nginxVersion = nginxVersion();
    }
    report.ratios = ratiosOf(report.http);
    const direct = report.http.find((r) => r.name === 'direct');
    const gateway = report.http.find((r) => r.name === 'gateway');
    for (const [key, load] of [
      ['fixedRate', `autocannon overallRate ${options.rate}`],
      ['paced', `paced ${options.rate}/s`],
    ]) {
      const rows = [direct, gateway]
        .filter((r) => r?.[key] !== undefined)
        .map((r) => ({ load, name: r.name, result: r[key] }));
      if (rows.length === 0) continue;
      const entry = { load, rows };
      if (direct?.[key] !== undefined && gateway?.[key] !== undefined) {
        entry.addedP99Ms = gateway[key].latencyMs.p99 - direct[key].latencyMs.p99;
        entry.addedP50Ms = gateway[key].latencyMs.p50 - direct[key].latencyMs.p50;
      }
      report.rate.push(entry);
    }
    if (options.phases.includes('ws')) report.webSockets = await webSocketPhase(upstream);
  } finally {
    await upstreamChild.stop();
  }
  if (options.cpuProfDir !== undefined) {
    const { readdirSync } = await import('node:fs');
    report.profiles = {};
    for (const file of readdirSync(options.cpuProfDir).filter((f) => f.endsWith('.cpuprofile'))) {
      report.profiles[file] = join(options.cpuProfDir, file);
    }
  }
  printReport(report);
  for (const path of Object.values(report.profiles ?? {})) {
    console.log(`\nCPU profile ${path}\n${formatProfile(summarizeProfile(path), 10)}`);
  }
  const out = join(tmpdir(), `lapse-bench-gateway-${report.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults (JSON): ${out}`);
}

try {
  await main();
  killChildren();
  process.exit(0);
} catch (error) {
  console.error(`bench:gateway failed: ${error instanceof Error ? error.message : error}`);
  killChildren();
  process.exit(1);
}
