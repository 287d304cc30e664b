// Core benchmark: the memory store's check+touch path at 1k, 100k and 1M live sessions.
//
//   npm run build && node --expose-gc bench/core/check-touch.mjs [--json] [--seconds 3] [--sizes 1000,100000,1000000]
//
// For each size N it measures heap bytes per live session (gc before and after
// creating N sessions; V8 heap plus array buffers), then sequential
// `await store.access(idHash, 'touch', contextPolicy)` on random ids for a few
// seconds, and the same through `SessionAuthority#check(id)` (which hashes the
// id on every call) when the build has it, and a floor (a bare Map.get and one
// number written, behind the same await) that shows what cache misses alone cost.
// The first size is the baseline: the report prints throughput(last) / throughput(first).
import { performance } from 'node:perf_hooks';

const { CompiledPolicy, MemoryStore, SessionAuthority, generateSessionId, hashSessionId } =
  await import(new URL('../../dist/index.js', import.meta.url).href);

function parseArgs(argv) {
  const args = { json: false, seconds: 3, sizes: [1_000, 100_000, 1_000_000] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') args.json = true;
    else if (arg === '--seconds') args.seconds = Number(argv[++i]);
    else if (arg === '--sizes') args.sizes = String(argv[++i]).split(',').map(Number);
    else {
      console.error(`unknown argument ${arg}`);
      process.exit(2);
    }
  }
  if (!(args.seconds > 0) || args.sizes.some((n) => !Number.isSafeInteger(n) || n < 1)) {
    console.error('usage: check-touch.mjs [--json] [--seconds S] [--sizes N,N,...]');
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc (heap per session needs explicit collections)');
  process.exit(2);
}

const MINUTE = 60_000;
const policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 15 * MINUTE, absoluteMs: 8 * 60 * MINUTE, warnMs: 2 * MINUTE },
  ceilings: {},
  rules: [
    { name: 'admins', match: { roles: ['admin'] }, idleMs: 5 * MINUTE, absoluteMs: 60 * MINUTE },
    { name: 'production', match: { environment: ['production'] }, idleMs: 10 * MINUTE },
  ],
  passive: [],
};
const context = { environment: 'production' };
const compiled = new CompiledPolicy(policy);
const contextPolicy = compiled.forContext(context);

/** One in ten sessions is an admin; each has its own subject. */
function draftFor(i) {
  return { subject: `user-${i}`, roles: i % 10 === 0 ? ['admin', 'dev'] : ['dev'] };
}

/** xorshift32: cheap, seeded, so every run picks the same ids. */
function random(seed) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

function settledHeap() {
  globalThis.gc();
  globalThis.gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** 64k random picks among `items`, replayed in order, so the bench's own id lookup stays cache-friendly at every N. */
const PICKS = 65_536;
function picksOf(items, seed) {
  const next = random(seed);
  return Array.from({ length: PICKS }, () => items[(next() * items.length) | 0]);
}

/** Call `step(pick)` sequentially, awaiting each, for `seconds`; returns calls per second. */
async function runFor(seconds, picks, step) {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let ops = 0;
  let now = start;
  while (now < deadline) {
    for (let k = 0; k < 4_096; k++) await step(picks[(ops + k) & (PICKS - 1)]);
    ops += 4_096;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}

async function benchStore(n) {
  const before = settledHeap();
  // The bench's own array of keys: N pointers, subtracted below.
  const hashes = new Array(n);
  const store = new MemoryStore();
  for (let i = 0; i < n; i++) {
    const idHash = hashSessionId(generateSessionId());
    hashes[i] = idHash;
    await store.create(idHash, draftFor(i), contextPolicy);
  }
  const after = settledHeap();
  const bytesPerSession = (after - before - 8 * n) / n;
  const picks = picksOf(hashes, n);
  const opsPerSecond = await runFor(args.seconds, picks, async (idHash) => {
    const result = await store.access(idHash, 'touch', contextPolicy);
    if (result.outcome !== 'active')
      throw new Error(`session ended in the bench: ${result.outcome}`);
  });
  await store.close();
  return { bytesPerSession, opsPerSecond, hashes, picks };
}

/**
 * The floor any Map-based store sits on: look the key up in a Map of N entries
 * and rewrite one number of its slot, behind the same await. What this loses
 * from 1k to 1M is cache and TLB misses, not store logic.
 */
async function benchFloor(hashes, picks) {
  const slots = new Map();
  for (let i = 0; i < hashes.length; i++) slots.set(hashes[i], i);
  const numbers = new Float64Array(hashes.length * 8);
  const touch = async (idHash) => {
    const slot = slots.get(idHash);
    numbers[slot * 8 + 1] = numbers[slot * 8 + 1] + 1;
    return slot;
  };
  return { opsPerSecond: await runFor(args.seconds, picks, touch) };
}

async function benchAuthority(n) {
  const store = new MemoryStore();
  const authority = new SessionAuthority({ policy: compiled, store });
  const ids = new Array(n);
  for (let i = 0; i < n; i++) ids[i] = (await authority.begin(draftFor(i), context)).id;
  const picks = picksOf(ids, n + 1);
  settledHeap();
  const opsPerSecond = await runFor(args.seconds, picks, async (id) => {
    const verdict = await authority.check(id, context);
    if (!verdict.ok) throw new Error(`session rejected in the bench: ${verdict.reason}`);
  });
  authority.dispose?.();
  await store.close();
  return { opsPerSecond };
}

const results = [];
for (const n of args.sizes) {
  const storeResult = await benchStore(n);
  const floorResult = await benchFloor(storeResult.hashes, storeResult.picks);
  storeResult.hashes = undefined;
  storeResult.picks = undefined;
  settledHeap();
  const authorityResult = SessionAuthority === undefined ? undefined : await benchAuthority(n);
  settledHeap();
  results.push({
    sessions: n,
    bytesPerSession: Math.round(storeResult.bytesPerSession),
    storeOpsPerSecond: Math.round(storeResult.opsPerSecond),
    authorityOpsPerSecond:
      authorityResult === undefined ? null : Math.round(authorityResult.opsPerSecond),
    floorOpsPerSecond: Math.round(floorResult.opsPerSecond),
  });
  if (!args.json) console.error(`done: ${n} sessions`);
}

const baseline = results[0];
const largest = results[results.length - 1];
const summary = {
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  seconds: args.seconds,
  results,
  storeRatio: largest.storeOpsPerSecond / baseline.storeOpsPerSecond,
  authorityRatio:
    largest.authorityOpsPerSecond === null
      ? null
      : largest.authorityOpsPerSecond / baseline.authorityOpsPerSecond,
  floorRatio: largest.floorOpsPerSecond / baseline.floorOpsPerSecond,
  targets: {
    throughputWithin20Percent: largest.storeOpsPerSecond / baseline.storeOpsPerSecond >= 0.8,
    under400BytesPerSession: largest.bytesPerSession < 400,
  },
};

if (args.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  const fmt = (value) => (value === null ? 'n/a' : value.toLocaleString('en-US'));
  const rows = results.map((r) => [
    fmt(r.sessions),
    fmt(r.bytesPerSession),
    fmt(r.storeOpsPerSecond),
    fmt(r.authorityOpsPerSecond),
    fmt(r.floorOpsPerSecond),
  ]);
  const header = [
    'sessions',
    'bytes/session',
    'store.access ops/s',
    'authority.check ops/s',
    'floor: Map.get ops/s',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
  const ratio = (value) => (value === null ? 'n/a' : value.toFixed(3));
  console.log(
    `\nthroughput(${fmt(largest.sessions)}) / throughput(${fmt(baseline.sessions)}): store ${ratio(summary.storeRatio)}, authority ${ratio(summary.authorityRatio)}, floor ${ratio(summary.floorRatio)}`,
  );
  console.log(`bytes/session at ${fmt(largest.sessions)}: ${fmt(largest.bytesPerSession)}`);
  console.log(
    `targets: ${fmt(largest.sessions)} within 20% of ${fmt(baseline.sessions)} ${summary.targets.throughputWithin20Percent ? 'met' : 'NOT met'}; < 400 bytes/session ${summary.targets.under400BytesPerSession ? 'met' : 'NOT met'}`,
  );
}
