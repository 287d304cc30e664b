import { ManualClock } from '../src/session/clock.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { describeStoreConformance } from './store-conformance.js';

describeStoreConformance('MemoryStore', async () => {
  const clock = new ManualClock(Date.UTC(2025, 0, 1, 9, 0, 0, 123));
  // No timer: the suite sweeps by hand, so nothing changes between its steps.
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  return {
    store,
    advance: (ms) => clock.advance(ms),
    close: () => store.close(),
  };
});
