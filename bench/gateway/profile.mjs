// Where a process spent its time, from a V8 CPU profile (`node --cpu-prof`):
// the functions with the most self time, and self time summed by where the
// code lives (lapse, undici, node internals, ...).
//
//   node bench/gateway/profile.mjs FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Which part of the stack a script URL belongs to. */
function areaOf(url, functionName) {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)' || functionName === '(program)') return functionName;
    return 'native/builtin';
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1];
  if (url.includes('/dist/')) return 'lapse';
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

/**
 * Self time per function and per area, ms, from a `.cpuprofile` file.
 * Returns `{ totalMs, functions: [{ name, where, area, selfMs }], areas: [{ area, selfMs }] }`,
 * largest first.
 */
export function summarizeProfile(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  // timeDeltas[i] is the time since the previous sample: it belongs to sample i - 1.
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, delta));
  }
  const byFunction = new Map();
  const byArea = new Map();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = nodes.get(id);
    const name = callFrame.functionName || '(anonymous)';
    const file = callFrame.url.replace(/^file:\/\//, '');
    const where = file === '' ? '' : `${shortPath(file)}:${callFrame.lineNumber + 1}`;
    const area = areaOf(callFrame.url, callFrame.functionName);
    const key = `${name} ${where}`;
    const entry = byFunction.get(key) ?? { name, where, area, selfMs: 0 };
    entry.selfMs += us / 1000;
    byFunction.set(key, entry);
    byArea.set(area, (byArea.get(area) ?? 0) + us / 1000);
    totalUs += us;
  }
  const descending = (a, b) => b.selfMs - a.selfMs;
  return {
    totalMs: totalUs / 1000,
    functions: [...byFunction.values()].sort(descending),
    areas: [...byArea].map(([area, selfMs]) => ({ area, selfMs })).sort(descending),
  };
}

function shortPath(file) {
  const pkg = file.lastIndexOf('node_modules/');
  if (pkg >= 0) return file.slice(pkg + 'node_modules/'.length);
  const dist = file.lastIndexOf('/dist/');
  if (dist >= 0) return file.slice(dist + 1);
  return file;
}

/** The top `n` functions and the areas as printable lines; idle time left out of the shares. */
export function formatProfile(summary, n = 10) {
  const busyMs = summary.areas
    .filter(({ area }) => area !== '(idle)')
    .reduce((sum, { selfMs }) => sum + selfMs, 0);
  const pct = (ms) => `${((100 * ms) / busyMs).toFixed(1).padStart(5)}%`;
  const lines = [`busy ${busyMs.toFixed(0)} ms (idle left out); top ${n} functions by self time:`];
  for (const f of summary.functions.filter((f) => f.name !== '(idle)').slice(0, n)) {
    lines.push(`  ${pct(f.selfMs)}  ${f.name}  ${f.where}`);
  }
  lines.push('self time by area:');
  for (const { area, selfMs } of summary.areas.filter(({ area }) => area !== '(idle)')) {
    if ((100 * selfMs) / busyMs < 0.5) continue;
    lines.push(`  ${pct(selfMs)}  ${area}`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node bench/gateway/profile.mjs FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  console.log(formatProfile(summarizeProfile(file), Number(top ?? 10)));
}
