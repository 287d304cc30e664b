// Enforcement benchmark: what lapse costs per HTTP request, against the same
// server without it, in one run.
//
//   npm run bench:enforce                      # build, then the table
//   node bench/enforce/run.mjs --json          # JSON on stdout (progress on stderr)
//   options: --duration 8 --warmup 2 --rounds 4 --connections 50 --only node,node-lapse
//            --cpu-prof DIR (write a V8 CPU profile of each server child to DIR)
//
// Five targets, each a server in its own child process (fork of server.mjs),
// so the server has a core to itself and autocannon's event loop runs on the
// other (the reference machine has 2):
//   node             bare node:http handler, a small JSON body
//   node-lapse       the same handler behind withLapse (lapse/node), MemoryStore
//   express          bare Express 5, the same JSON route
//   express-lapse    Express 5 + lapseMiddleware (lapse/express)
//   express-session  Express 5 + express-session (rolling, MemoryStore): the peer
//
// The session targets are signed in once; every measured request carries that
// cookie, so each one is a real check+touch of a live session. Before and after
// the load, a request with the cookie must get 200 and one without it 401; any
// error, timeout or non-2xx answer under load fails the run.
//
// Each target gets a warm-up (2 s), then its measured time (8 s) in `--rounds`
// slices taken round-robin across the targets (rotating the order each round),
// so a burst of load from another process lands on all targets alike instead
// of on one. Idle servers cost nothing: all five run for the whole benchmark.
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { fmt, table } from '../shared/report.mjs';
import { machineBusyMicros, machineInfo } from './machine.mjs';
import { DATA_PATH, LOGIN_PATH, TARGETS } from './targets.mjs';

const SERVER = new URL('./server.mjs', import.meta.url);

function parseArgs(argv) {
  const args = {
    json: false,
    duration: 8,
    warmup: 2,
    rounds: 4,
    connections: 50,
    only: TARGETS.map((t) => t.name),
    cpuProf: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') args.json = true;
    else if (arg === '--duration') args.duration = Number(argv[++i]);
    else if (arg === '--warmup') args.warmup = Number(argv[++i]);
    else if (arg === '--rounds') args.rounds = Number(argv[++i]);
    else if (arg === '--connections') args.connections = Number(argv[++i]);
    else if (arg === '--only') args.only = String(argv[++i]).split(',');
    else if (arg === '--cpu-prof') args.cpuProf = String(argv[++i]);
    else usage(`unknown argument ${arg}`);
  }
  const names = TARGETS.map((t) => t.name);
  if (!(args.duration > 0) || !(args.warmup >= 0) || !(args.connections >= 1)) usage('bad number');
  if (!Number.isInteger(args.rounds) || args.rounds < 1) usage('--rounds must be a whole number');
  if (!Number.isInteger(args.duration / args.rounds)) {
    usage('--duration / --rounds must be whole seconds (autocannon measures in seconds)');
  }
  for (const name of args.only) if (!names.includes(name)) usage(`unknown target ${name}`);
  return args;
}

function usage(problem) {
  console.error(`${problem}
usage: run.mjs [--json] [--duration S] [--warmup S] [--rounds N] [--connections N] [--only a,b] [--cpu-prof DIR]
targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

const args = parseArgs(process.argv.slice(2));
const log = (line) => console.error(line);

// Children are killed when this process ends, however it ends.
const children = new Set();
function killChildren() {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}

/** Fork server.mjs for one target; resolves once it prints its port. */
function startServer(name) {
  const execArgv =
    args.cpuProf === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${args.cpuProf}`];
  const child = fork(SERVER, [name], { execArgv, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  children.add(child);
  // A send to a dead child is reported by ask(); keep it from becoming an unhandled 'error'.
  child.on('error', () => {});
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name}: server did not start in 10 s`)),
      10_000,
    );
    child.once('exit', (code) => reject(new Error(`${name}: server exited early (code ${code})`)));
    child.stdout.setEncoding('utf8');
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /^port (\d+)$/m.exec(out);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      child.stdout.resume();
      resolve({
        url: `http://127.0.0.1:${match[1]}`,
        cpuUsage: () => ask(name, child, 'cpu'),
        stop: async () => {
          // SIGTERM: the child exits normally, so --cpu-prof gets written.
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
          children.delete(child);
        },
      });
    });
  });
}

/** One request/answer over the child's IPC channel. */
function ask(name, child, type) {
  return new Promise((resolve, reject) => {
    const gone = () => reject(new Error(`${name}: the server process is gone`));
    if (!child.connected) return gone();
    const timer = setTimeout(() => reject(new Error(`${name}: no answer to ${type}`)), 5_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message);
    });
    child.send({ type }, (error) => {
      if (error) {
        clearTimeout(timer);
        gone();
      }
    });
  });
}

function fail(message) {
  throw new Error(message);
}

/** Sign in once; returns the `name=value` pair of the session cookie. */
async function signIn(target, url) {
  const response = await fetch(`${url}${LOGIN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  await response.arrayBuffer();
  if (response.status !== 200) {
    fail(`${target.name}: POST ${LOGIN_PATH} answered ${response.status}`);
  }
  const cookie = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .find((pair) => pair.startsWith(`${target.cookieName}=`));
  if (cookie === undefined) fail(`${target.name}: sign-in set no ${target.cookieName} cookie`);
  return cookie;
}

/** GET the data route. */
async function get(url, headers = {}) {
  const response = await fetch(`${url}${DATA_PATH}`, { headers });
  await response.arrayBuffer();
  return response;
}

/** Fail loudly unless the server answers as the benchmark assumes. */
async function verify(target, url, cookie) {
  if (cookie === undefined) {
    const response = await get(url);
    if (response.status !== 200) {
      fail(`${target.name}: GET ${DATA_PATH} answered ${response.status}`);
    }
    return;
  }
  const signedIn = await get(url, { cookie });
  if (signedIn.status !== 200) {
    fail(`${target.name}: GET ${DATA_PATH} with the session cookie answered ${signedIn.status}`);
  }
  if (target.cookieName === 'lapse_sid' && !signedIn.headers.has('lapse-session')) {
    fail(`${target.name}: a checked request got no Lapse-Session header`);
  }
  const anonymous = await get(url);
  if (anonymous.status !== 401) {
    fail(
      `${target.name}: GET ${DATA_PATH} without a session answered ${anonymous.status}, not 401`,
    );
  }
}

/** autocannon against one target; the raw result (histograms encoded) when `raw`. */
function cannon(state, seconds, raw) {
  return autocannon({
    url: `${state.server.url}${DATA_PATH}`,
    connections: args.connections,
    pipelining: 1,
    duration: seconds,
    headers: state.cookie === undefined ? {} : { cookie: state.cookie },
    skipAggregateResult: raw,
  });
}

function checkClean(state, result, phase) {
  const bad = { errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx };
  if (Object.values(bad).some((n) => n > 0)) {
    fail(
      `${state.target.name}: ${phase} had ${JSON.stringify(bad)} ` +
        `(status codes ${JSON.stringify(result.statusCodeStats)})`,
    );
  }
}

/** Start, sign in and verify one target. */
async function prepare(target) {
  const state = { target, server: await startServer(target.name), slices: [] };
  state.cookie =
    target.cookieName === undefined ? undefined : await signIn(target, state.server.url);
  await verify(target, state.server.url, state.cookie);
  Object.assign(state, { user: 0, system: 0, client: 0, background: 0, elapsed: 0 });
  return state;
}

/** One measured slice: load, plus the server's, this process's and the machine's CPU time. */
async function slice(state, seconds) {
  const before = await state.server.cpuUsage();
  const ownBefore = process.cpuUsage();
  const busyBefore = machineBusyMicros();
  const started = performance.now();
  const result = await cannon(state, seconds, true);
  const elapsed = (performance.now() - started) * 1_000;
  const busyAfter = machineBusyMicros();
  const own = process.cpuUsage(ownBefore);
  const after = await state.server.cpuUsage();
  checkClean(state, result, 'the measured run');
  const user = after.user - before.user;
  const system = after.system - before.system;
  const client = own.user + own.system;
  state.slices.push(result);
  state.user += user;
  state.system += system;
  state.client += client;
  state.elapsed += elapsed;
  // Everything else the machine did meanwhile: other processes, kernel threads.
  if (busyBefore === undefined || busyAfter === undefined) state.background = undefined;
  else if (state.background !== undefined) {
    state.background += Math.max(0, busyAfter - busyBefore - user - system - client);
  }
}

function summarize(state) {
  const merged = autocannon.aggregateResult(state.slices, {
    url: `${state.server.url}${DATA_PATH}`,
    connections: args.connections,
  });
  const total = state.slices.reduce((sum, r) => sum + r.totalCompletedRequests, 0);
  const seconds = state.slices.reduce((sum, r) => sum + r.duration, 0);
  return {
    name: state.target.name,
    label: state.target.label,
    requestsPerSecond: total / seconds,
    requestsTotal: total,
    measuredSeconds: seconds,
    latencyMeanMs: merged.latency.average,
    latencyP50Ms: merged.latency.p50,
    latencyP99Ms: merged.latency.p99,
    serverCpuMicrosPerRequest: (state.user + state.system) / total,
    serverUserMicrosPerRequest: state.user / total,
    serverSystemMicrosPerRequest: state.system / total,
    clientCpuMicrosPerRequest: state.client / total,
    backgroundCpuPercent:
      state.background === undefined ? undefined : (100 * state.background) / state.elapsed,
  };
}

function ratiosOf(results) {
  const byName = new Map(results.map((r) => [r.name, r]));
  const ratios = [];
  for (const target of TARGETS) {
    const own = byName.get(target.name);
    const base = byName.get(target.baseline);
    if (own === undefined || base === undefined) continue;
    const ratio = own.requestsPerSecond / base.requestsPerSecond;
    ratios.push({
      name: target.name,
      baseline: target.baseline,
      ratio,
      // The throughput ratio if only the server's core limited: baseline µs/req over own µs/req.
      cpuRatio: base.serverCpuMicrosPerRequest / own.serverCpuMicrosPerRequest,
      target: target.target,
      met: target.target === undefined ? undefined : ratio >= target.target,
    });
  }
  return ratios;
}

function printTable(info, results, ratios) {
  const ratioOf = new Map(ratios.map((r) => [r.name, r]));
  const rows = results.map((result) => ({ ...result, vs: ratioOf.get(result.name) }));
  const verdict = ({ vs }) => {
    if (vs === undefined) return '';
    if (vs.target === undefined) return '(peer)';
    return `>= ${fmt(vs.target, 2)}: ${vs.met ? 'met' : 'NOT met'}`;
  };
  console.log(
    `lapse enforcement bench: ${info.nproc} CPUs (${info.cpu}), Node ${info.node}; ` +
      `${args.connections} connections, pipelining 1; per target ${args.warmup} s warm-up, ` +
      `then ${args.duration} s in ${args.rounds} round-robin slices\n`,
  );
  console.log(
    table(
      [
        ['target', 'l', (r) => r.label],
        ['req/s (mean)', 'r', (r) => fmt(r.requestsPerSecond)],
        ['p99 ms', 'r', (r) => fmt(r.latencyP99Ms)],
        ['vs baseline', 'r', ({ vs }) => (vs === undefined ? 'baseline' : fmt(vs.ratio, 3))],
        ['target', 'l', verdict],
        ['server CPU µs/req', 'r', (r) => fmt(r.serverCpuMicrosPerRequest, 1)],
        ['CPU ratio', 'r', ({ vs }) => (vs === undefined ? '' : fmt(vs.cpuRatio, 3))],
        ['background CPU', 'r', (r) => `${fmt(r.backgroundCpuPercent)}%`],
      ],
      rows,
    ),
  );
  console.log(
    '\nvs baseline: req/s over the baseline (node-lapse / node; express-* / express).\n' +
      'CPU ratio: baseline server CPU µs/req over its own, the ratio if only the server core limited.\n' +
      'background CPU: what the rest of the machine used meanwhile, in % of one core (noise).',
  );
  const busy = results.filter((r) => r.backgroundCpuPercent > 20);
  if (busy.length > 0) {
    console.log(
      `warning: other processes used > 20% of a core during ${busy.map((r) => r.name).join(', ')}; ` +
        'throughput and ratios are noisy: run again on a quiet machine.',
    );
  }
}

async function main() {
  const info = machineInfo();
  const selected = TARGETS.filter((target) => args.only.includes(target.name));
  const states = [];
  try {
    for (const target of selected) states.push(await prepare(target));
    for (const state of states) {
      if (args.warmup === 0) break;
      log(`${state.target.name}: warm-up ${args.warmup} s`);
      checkClean(state, await cannon(state, args.warmup, false), 'the warm-up');
    }
    const seconds = args.duration / args.rounds;
    for (let round = 0; round < args.rounds; round++) {
      // Rotate the order, so no target always follows the same one.
      const order = states.map((_, i) => states[(i + round) % states.length]);
      log(
        `round ${round + 1}/${args.rounds}: ${seconds} s each, ${order.map((s) => s.target.name)}`,
      );
      for (const state of order) await slice(state, seconds);
    }
    // Every session must still be live after the load: each request was a touch, not a rejection.
    for (const state of states) await verify(state.target, state.server.url, state.cookie);
  } finally {
    for (const state of states) await state.server.stop();
  }
  const results = states.map(summarize);
  for (const r of results) {
    log(
      `${r.name}: ${fmt(r.requestsPerSecond)} req/s, p99 ${fmt(r.latencyP99Ms)} ms, ` +
        `server ${fmt(r.serverCpuMicrosPerRequest, 1)} µs CPU/req, ` +
        `background ${fmt(r.backgroundCpuPercent)}% of a core`,
    );
  }
  const ratios = ratiosOf(results);
  const options = {
    connections: args.connections,
    pipelining: 1,
    warmupSeconds: args.warmup,
    durationSeconds: args.duration,
    rounds: args.rounds,
  };
  if (args.json) {
    console.log(JSON.stringify({ machine: info, options, results, ratios }, null, 2));
  } else {
    printTable(info, results, ratios);
  }
}

try {
  await main();
  killChildren();
  process.exit(0);
} catch (error) {
  console.error(`bench:enforce failed: ${error instanceof Error ? error.message : error}`);
  killChildren();
  process.exit(1);
}
