import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/session/clock.js';
import { SqliteStore } from '../src/store/sqlite/index.js';
import { describeStoreConformance } from './store-conformance.js';

const START = Date.UTC(2025, 0, 1, 9, 0, 0, 123);

// A fresh file per case; both instances share one clock, as processes on one
// machine share its wall clock.
describeStoreConformance(
  'SqliteStore',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lapse-sqlite-conformance-'));
    const path = join(dir, 'lapse.db');
    const clock = new ManualClock(START);
    // No sweep timer: the suite sweeps by hand, so nothing changes between its steps.
    const open = () => new SqliteStore({ path, clock, sweepIntervalMs: 0 });
    const store = open();
    const opened: SqliteStore[] = [store];
    return {
      store,
      advance: (ms) => clock.advance(ms),
      secondInstance: async () => {
        const other = open();
        opened.push(other);
        return other;
      },
      close: async () => {
        await Promise.all(opened.map((instance) => instance.close()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { shared: true },
);

describeStoreConformance('SqliteStore (:memory:)', async () => {
  const clock = new ManualClock(START);
  const store = new SqliteStore({ path: ':memory:', clock, sweepIntervalMs: 0 });
  return {
    store,
    advance: (ms) => clock.advance(ms),
    close: () => store.close(),
  };
});
