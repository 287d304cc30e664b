// What observability costs per check, in-process: `Lapse.handle` on one live
// session (memory store), without and with `observeLapse` (metrics, the audit
// log to a file, anomaly detection), alternating in rounds so drift on a shared
// machine lands on both alike. The HTTP bench (`run.mjs`, target
// gateway-observed) measures the same thing through sockets, where the
// difference is smaller than the noise between gateway processes.
//
//   npm run build && node bench/gateway/observability.mjs [--rounds 10] [--checks 100000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { observeLapse } from '../../dist/admin/index.js';
import { createLapse, loadPolicy, MemoryStore } from '../../dist/index.js';
import { fmt, table } from '../shared/report.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    checks: { type: 'string', default: '100000' },
  },
});
const rounds = Number(values.rounds);
const checks = Number(values.checks);
const policy = loadPolicy(
  'version: 1\npolicy: { defaults: { idle: 1h, absolute: 8h } }',
  'bench.yaml',
);
const dir = mkdtempSync(join(tmpdir(), 'lapse-bench-observe-'));

/** A Lapse with one live session, observed or not; `run(n)` makes n checks and returns ns per check. */
async function setup(isObserved) {
  const lapse = createLapse({ policy, store: new MemoryStore() });
  const observability = isObserved
    ? observeLapse(lapse, {
        audit: { destination: join(dir, 'audit.log') },
        clockSkewIntervalMs: 0,
      })
    : undefined;
  const { id } = await lapse.authority.begin({ subject: 'bench' });
  const cookie = `lapse_sid=${id}`;
  const request = {
    method: 'GET',
    url: '/hello',
    header: (name) => (name === 'cookie' ? cookie : undefined),
  };
  const sink = { set() {}, append() {} };
  return {
    observability,
    async run(n) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const result = await lapse.handle(request, sink);
        if (result.action !== 'next') throw new Error('the session was not accepted');
      }
      return Number(process.hrtime.bigint() - started) / n;
    },
  };
}

const off = await setup(false);
const on = await setup(true);
await off.run(checks / 5);
await on.run(checks / 5);
const samples = { off: [], on: [] };
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
  for (const name of order) samples[name].push(await (name === 'off' ? off : on).run(checks));
}
await on.observability.close();
rmSync(dir, { recursive: true, force: true });

const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
const offNs = median(samples.off);
const onNs = median(samples.on);
console.log(
  `observability cost per check, in-process (Node ${process.version}, ${rounds} rounds of ${checks} checks, medians)\n`,
);
console.log(
  table(
    [
      ['variant', 'l', (r) => r.name],
      ['µs per Lapse.handle', 'r', (r) => fmt(r.ns / 1000, 2)],
    ],
    [
      { name: 'observability off', ns: offNs },
      { name: 'metrics + audit + anomalies on', ns: onNs },
      { name: 'difference', ns: onNs - offNs },
    ],
  ),
);
