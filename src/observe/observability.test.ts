import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../errors.js';
import type { HttpRequestLike } from '../http/http-request.js';
import { createLapse, type HandleResult } from '../http/lapse.js';
import type { HeaderSink } from '../http/request-session.js';
import type { Policy } from '../policy/types.js';
import { ManualClock } from '../session/clock.js';
import type { AccessMode, PolicyResolver } from '../session/decide.js';
import { MemoryStore } from '../store/memory-store.js';
import type { AccessResult } from '../store/session-store.js';
import { type Observability, observeLapse } from './observability.js';

const SECOND = 1_000;
const START = 1_800_000_000_000;

/** idle 60 s, absolute 10 min, warn 10 s; GET /api/poll is passive traffic. */
const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 60 * SECOND, absoluteMs: 600 * SECOND, warnMs: 10 * SECOND },
  ceilings: {},
  rules: [],
  passive: [{ methods: ['GET'], paths: ['/api/poll'] }],
};

/** A real MemoryStore that can be taken down: then `access` rejects as an unreachable store does. */
class FlakyStore extends MemoryStore {
  isDown = false;

  override async access(
    idHash: string,
    mode: AccessMode,
    policy: PolicyResolver,
  ): Promise<AccessResult> {
    if (this.isDown) throw new StoreUnavailableError('the store cannot be reached');
    return super.access(idHash, mode, policy);
  }
}

/** A real MemoryStore whose clock cannot be read, and that counts the attempts. */
class NoClockStore extends MemoryStore {
  clockReads = 0;

  override async now(): Promise<number> {
    this.clockReads += 1;
    throw new StoreUnavailableError('the store cannot be reached');
  }
}

/** A header sink that keeps what lapse sets. */
class RecordingSink implements HeaderSink {
  readonly headers = new Map<string, string[]>();

  set(name: string, value: string): void {
    this.headers.set(name.toLowerCase(), [value]);
  }

  append(name: string, value: string): void {
    this.headers.set(name.toLowerCase(), [...(this.headers.get(name.toLowerCase()) ?? []), value]);
  }
}

function request(
  method: string,
  url: string,
  headers: Record<string, string> = {},
): HttpRequestLike {
  return { method, url, header: (name) => headers[name] };
}

/** One sample of the Prometheus text, by its series (`name` or `name{label="value"}`). */
async function sampleOf(observability: Observability, series: string): Promise<number> {
  const text = await observability.metrics.metricsText();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no sample ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

const opened: Observability[] = [];
afterEach(async () => {
  for (const observability of opened.splice(0)) await observability.close();
});

interface SetupOptions {
  readonly store?: MemoryStore;
  readonly onStoreError?: 'deny' | 'allow';
  readonly clockSkewIntervalMs?: number;
}

function setup(options: SetupOptions = {}) {
  const clock = new ManualClock(START);
  const store = options.store ?? new MemoryStore({ clock, sweepIntervalMs: 0 });
  const lapse = createLapse({
    policy: POLICY,
    store,
    public: ['/health'],
    ...(options.onStoreError === undefined ? {} : { onStoreError: options.onStoreError }),
  });
  const written: string[] = [];
  const errors: unknown[] = [];
  const observability = observeLapse(lapse, {
    clock,
    clockSkewIntervalMs: options.clockSkewIntervalMs ?? 0,
    audit: { destination: { write: (line: string) => void written.push(line) } },
    onError: (error) => errors.push(error),
  });
  opened.push(observability);
  const send = async (
    method: string,
    url: string,
    headers: Record<string, string> = {},
  ): Promise<{ result: HandleResult; sink: RecordingSink }> => {
    const sink = new RecordingSink();
    const result = await lapse.handle(request(method, url, headers), sink);
    return { result, sink };
  };
  /** The audit lines written so far, parsed. */
  const auditLines = () =>
    written
      .join('')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const sample = (series: string) => sampleOf(observability, series);
  return { clock, store, lapse, observability, send, auditLines, sample, errors };
}

const cookie = (id: string) => ({ cookie: `lapse_sid=${id}` });
const UNKNOWN_ID = 'A'.repeat(43);

describe('observeLapse: requests', () => {
  it('counts each check by verdict and times every one of them', async () => {
    const { lapse, observability, send, sample } = setup();
    const { id } = await lapse.authority.begin({ subject: 'alice' });

    const allowed = await send('GET', '/api/me', cookie(id));
    expect(allowed.result.action).toBe('next');
    expect(allowed.sink.headers.get('lapse-session')?.[0]).toMatch(/^state=active/);
    await send('POST', '/api/orders', cookie(id));
    await send('GET', '/api/poll', cookie(id)); // passive rule
    await send('GET', '/api/poll?since=3', cookie(id));
    await send('GET', '/_lapse/status', cookie(id)); // a status read is passive too
    await send('GET', '/health', cookie(id)); // public: checked passively
    await send('GET', '/health'); // public, nothing carried: no check at all
    const missing = await send('GET', '/api/me');
    expect(missing.result).toMatchObject({ action: 'respond', response: { status: 401 } });
    await send('GET', '/api/me', cookie(UNKNOWN_ID));
    await send('GET', '/api/me', cookie('not a session id'));

    expect((await observability.metrics.counts()).requests).toEqual({
      allowed: 2,
      passive: 4,
      rejected: 3,
      unavailable: 0,
      unverified: 0,
    });
    expect(await sample('lapse_requests_total{verdict="allowed"}')).toBe(2);
    expect(await sample('lapse_requests_total{verdict="passive"}')).toBe(4);
    expect(await sample('lapse_requests_total{verdict="rejected"}')).toBe(3);
    expect(await sample('lapse_check_duration_seconds_count')).toBe(9);
    expect(await sample('lapse_check_duration_seconds_sum')).toBeGreaterThanOrEqual(0);
    expect(await sample('lapse_store_errors_total')).toBe(0);
  });

  it('counts a store that cannot be reached as unavailable (503) and as a store error', async () => {
    const clock = new ManualClock(START);
    const store = new FlakyStore({ clock, sweepIntervalMs: 0 });
    const { lapse, observability, send, sample } = setup({ store });
    const { id } = await lapse.authority.begin({ subject: 'alice' });
    await send('GET', '/api/me', cookie(id));
    store.isDown = true;
    const refused = await send('GET', '/api/me', cookie(id));
    expect(refused.result).toMatchObject({ action: 'respond', response: { status: 503 } });
    await send('GET', '/_lapse/status', cookie(id));
    await send('GET', '/api/me'); // nothing carried: rejected without asking the store
    expect((await observability.metrics.counts()).requests).toMatchObject({
      allowed: 1,
      rejected: 1,
      unavailable: 2,
      unverified: 0,
    });
    expect(await sample('lapse_store_errors_total')).toBe(2);
    expect(await sample('lapse_check_duration_seconds_count')).toBe(4);
  });

  it("counts requests let through unchecked under onStoreError 'allow' as unverified", async () => {
    const clock = new ManualClock(START);
    const store = new FlakyStore({ clock, sweepIntervalMs: 0 });
    const { lapse, observability, send, sample } = setup({ store, onStoreError: 'allow' });
    const { id } = await lapse.authority.begin({ subject: 'alice' });
    store.isDown = true;
    const passed = await send('GET', '/api/me', cookie(id));
    expect(passed.result.action).toBe('next');
    await send('GET', '/api/poll', cookie(id));
    // The reserved endpoints never pass unverified.
    const status = await send('GET', '/_lapse/status', cookie(id));
    expect(status.result).toMatchObject({ action: 'respond', response: { status: 503 } });
    expect((await observability.metrics.counts()).requests).toEqual({
      allowed: 0,
      passive: 0,
      rejected: 0,
      unavailable: 1,
      unverified: 2,
    });
    expect(lapse.allowedUnverified).toBe(2);
    expect(await sample('lapse_store_errors_total')).toBe(3);
    expect(await sample('lapse_check_duration_seconds_count')).toBe(3);
  });

  it('never times a check longer than it took, even one already in flight when observation starts', async () => {
    const clock = new ManualClock(START);
    const lapse = createLapse({
      policy: POLICY,
      store: new MemoryStore({ clock, sweepIntervalMs: 0 }),
    });
    const { id } = await lapse.authority.begin({ subject: 'alice' });
    const startedAt = performance.now();
    const inFlight = lapse.handle(request('GET', '/api/me', cookie(id)), new RecordingSink());
    const observability = observeLapse(lapse, {
      clock,
      clockSkewIntervalMs: 0,
      audit: { destination: { write: () => {} } },
    });
    opened.push(observability);
    expect((await inFlight).action).toBe('next');
    const tookSeconds = (performance.now() - startedAt) / 1_000;
    const { requests } = await observability.metrics.counts();
    const checks = Object.values(requests).reduce((sum, count) => sum + count, 0);
    // Counted or not, but consistently, and never longer than the whole call took.
    expect(await sampleOf(observability, 'lapse_check_duration_seconds_count')).toBe(checks);
    expect(await sampleOf(observability, 'lapse_check_duration_seconds_sum')).toBeLessThanOrEqual(
      tookSeconds,
    );
  });

  it('feeds the live and warning gauges from the store', async () => {
    const { clock, lapse, sample } = setup();
    await lapse.authority.begin({ subject: 'early' });
    clock.advance(20 * SECOND);
    await lapse.authority.begin({ subject: 'late' });
    clock.advance(30 * SECOND); // early: 10 s left, in its warning period
    expect(await sample('lapse_sessions_active')).toBe(2);
    expect(await sample('lapse_sessions_warning')).toBe(1);
  });
});

describe('observeLapse: the audit trail', () => {
  it('writes every session event to the sink, as the log keeps them, and charts the ends', async () => {
    const { clock, lapse, observability, send, auditLines, sample } = setup();
    const alice = await lapse.authority.begin({ subject: 'alice' });
    const bob = await lapse.authority.begin({ subject: 'bob' });
    await send('GET', '/api/me', cookie(alice.id));
    const extended = await send('POST', '/_lapse/extend', { ...cookie(alice.id), 'x-lapse': '1' });
    expect(extended.result).toMatchObject({ action: 'respond', response: { status: 200 } });
    await send('POST', '/_lapse/logout', { ...cookie(bob.id), 'x-lapse': '1' });
    await send('GET', '/api/me', cookie(bob.id)); // revoked
    await send('GET', '/api/me'); // missing: not audited by default
    clock.advance(61 * SECOND);
    await send('GET', '/api/me', cookie(alice.id)); // idle: ends it

    const lines = auditLines();
    expect(lines.map((line) => [line.event, line.subject, line.reason])).toEqual([
      ['session.begin', 'alice', null],
      ['session.begin', 'bob', null],
      ['session.extend', 'alice', null],
      ['session.revoke', 'bob', 'logout'],
      ['session.reject', 'bob', 'revoked'],
      ['session.expire', 'alice', 'idle'],
      ['session.reject', 'alice', 'idle'],
    ]);
    expect(lines.map((line) => line.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(lines[5]).toMatchObject({
      time: START + 61 * SECOND,
      detail: { noticedBy: 'check', endedAt: START + 60 * SECOND },
    });
    const text = JSON.stringify(lines);
    expect(text).not.toContain(alice.id);
    expect(text).not.toContain(alice.record.idHash);
    // What the log keeps is what it wrote.
    const kept = observability.audit.recent().events;
    expect(kept.map((event) => ({ ...event }))).toEqual(lines);

    expect((await observability.metrics.counts()).ended).toEqual({
      idle: 1,
      absolute: 0,
      revoked: 1,
    });
    expect(await sample('lapse_sessions_started_total')).toBe(2);
    expect(await sample('lapse_extensions_total')).toBe(1);
    const buckets = observability.timeline.buckets();
    expect(buckets.at(-1)).toMatchObject({ idle: 1, revoked: 0 });
    expect(buckets.reduce((sum, bucket) => sum + bucket.revoked, 0)).toBe(1);
  });

  it('never reports past_deadline for ordinary traffic, up to and across every deadline', async () => {
    const action = fc.oneof(
      fc.record({
        // Arbitrary steps, and steps that land exactly on (or just short of) a deadline.
        advanceMs: fc.oneof(
          fc.integer({ min: 0, max: 70 * SECOND }),
          fc.constantFrom(1, 10 * SECOND - 1, 50 * SECOND, 60 * SECOND - 1, 60 * SECOND),
        ),
      }),
      fc.constantFrom(
        { send: ['GET', '/api/me'] as const },
        { send: ['POST', '/api/orders'] as const },
        { send: ['GET', '/api/poll'] as const },
        { send: ['GET', '/_lapse/status'] as const },
        { send: ['POST', '/_lapse/extend'] as const },
        { begin: true },
        { sweep: true },
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 40 }), async (actions) => {
        const { clock, lapse, observability, send, auditLines } = setup();
        const ids = [(await lapse.authority.begin({ subject: 'alice' })).id];
        for (const step of actions) {
          if ('advanceMs' in step) clock.advance(step.advanceMs);
          else if ('begin' in step) ids.push((await lapse.authority.begin({ subject: 'bob' })).id);
          else if ('sweep' in step) await lapse.authority.sweep();
          else {
            for (const id of ids) {
              await send(step.send[0], step.send[1], { ...cookie(id), 'x-lapse': '1' });
            }
          }
        }
        expect((await observability.metrics.counts()).anomalies.past_deadline).toBe(0);
        expect(auditLines().some((line) => line.event === 'anomaly.past_deadline')).toBe(false);
        await observability.close();
      }),
      { numRuns: 60 },
    );
  });
});

describe('observeLapse: clock skew', () => {
  it('flags requests at machine-regular intervals, but not the browser SDK heartbeats that are paced on purpose', async () => {
    const { clock, lapse, send, sample } = setup();
    const script = await lapse.authority.begin({ subject: 'script' });
    const person = await lapse.authority.begin({ subject: 'person' });
    const sameOrigin = { 'x-lapse': '1', 'sec-fetch-site': 'same-origin' };
    for (let i = 0; i < 12; i += 1) {
      clock.advance(20 * SECOND);
      // A script requesting a page every 20 s exactly.
      await send('GET', '/page', cookie(script.id));
      // The SDK of an active person: "stay signed in" heartbeats every 20 s exactly.
      const beat = await send('POST', '/_lapse/extend', { ...cookie(person.id), ...sameOrigin });
      expect(beat.result.action).toBe('respond');
    }
    expect(await sample('lapse_anomalies_total{kind="automated_keepalive"}')).toBe(1);
    expect(await sample('lapse_extensions_total')).toBe(12);
  });

  it('reports a store clock 10 s ahead once, in metrics and the audit log', async () => {
    const storeClock = new ManualClock(START + 10 * SECOND);
    const store = new MemoryStore({ clock: storeClock, sweepIntervalMs: 0 });
    const { observability, auditLines, sample } = setup({ store });
    expect(await observability.checkClockSkew()).toBe(10 * SECOND);
    expect(await sample('lapse_anomalies_total{kind="clock_skew"}')).toBe(1);
    const skewLines = auditLines().filter((line) => line.event === 'anomaly.clock_skew');
    expect(skewLines).toEqual([
      expect.objectContaining({
        level: 'warn',
        time: START,
        reason: 'store_ahead',
        detail: expect.objectContaining({ skewMs: 10 * SECOND }),
      }),
    ]);
    // Still skewed: not reported again. Back in bounds, then skewed again: reported again.
    expect(await observability.checkClockSkew()).toBe(10 * SECOND);
    expect(await sample('lapse_anomalies_total{kind="clock_skew"}')).toBe(1);
    storeClock.set(START + 500);
    expect(await observability.checkClockSkew()).toBe(500);
    storeClock.set(START - 5 * SECOND);
    expect(await observability.checkClockSkew()).toBe(-5 * SECOND);
    expect(await sample('lapse_anomalies_total{kind="clock_skew"}')).toBe(2);
    expect(auditLines().at(-1)).toMatchObject({
      event: 'anomaly.clock_skew',
      reason: 'store_behind',
    });
    expect(await sample('lapse_store_errors_total')).toBe(0);
  });

  it('resolves undefined and counts a store error when the store clock cannot be read', async () => {
    const store = new NoClockStore({ clock: new ManualClock(START), sweepIntervalMs: 0 });
    const { observability, sample, errors, auditLines } = setup({ store });
    expect(await observability.checkClockSkew()).toBeUndefined();
    expect(await sample('lapse_store_errors_total')).toBe(1);
    expect(errors).toEqual([expect.objectContaining({ code: 'LAPSE_STORE_UNAVAILABLE' })]);
    expect((await observability.metrics.counts()).anomalies.clock_skew).toBe(0);
    expect(auditLines()).toEqual([]);
  });

  it('compares the clocks at construction and then every clockSkewIntervalMs, until closed', async () => {
    const store = new NoClockStore({ clock: new ManualClock(START), sweepIntervalMs: 0 });
    const { observability, sample } = setup({ store, clockSkewIntervalMs: 20 });
    await Promise.resolve();
    expect(store.clockReads).toBe(1); // at once, not after the first interval
    await new Promise((resolve) => setTimeout(resolve, 110));
    expect(store.clockReads).toBeGreaterThanOrEqual(3);
    await observability.close();
    const afterClose = store.clockReads;
    expect(await sample('lapse_store_errors_total')).toBe(afterClose);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(store.clockReads).toBe(afterClose);
  });
});

describe('observeLapse: policy reloads', () => {
  it('counts and audits reloads; only a good one moves policyLoadedAt', async () => {
    const { clock, observability, auditLines, sample } = setup();
    expect(observability.policyLoadedAt).toBe(START);

    clock.advance(5 * SECOND);
    observability.recordReload({ result: 'ok' }, 'watch');
    expect(observability.policyLoadedAt).toBe(START + 5 * SECOND);

    clock.advance(5 * SECOND);
    observability.recordReload(
      { result: 'rejected', error: { code: 'LAPSE_POLICY_INVALID' } },
      'signal',
    );
    clock.advance(5 * SECOND);
    observability.recordReload({ result: 'unchanged' }, 'watch');
    expect(observability.policyLoadedAt).toBe(START + 5 * SECOND);

    expect(await sample('lapse_policy_reloads_total{result="ok"}')).toBe(1);
    expect(await sample('lapse_policy_reloads_total{result="rejected"}')).toBe(1);
    expect(await sample('lapse_policy_reloads_total{result="unchanged"}')).toBe(1);
    expect(auditLines()).toEqual([
      expect.objectContaining({
        event: 'policy.reload',
        level: 'info',
        time: START + 5 * SECOND,
        reason: 'ok',
        detail: { trigger: 'watch', code: null },
      }),
      expect.objectContaining({
        event: 'policy.reload',
        level: 'warn',
        time: START + 10 * SECOND,
        reason: 'rejected',
        detail: { trigger: 'signal', code: 'LAPSE_POLICY_INVALID' },
      }),
      expect.objectContaining({ event: 'policy.reload', reason: 'unchanged' }),
    ]);
  });
});

describe('observeLapse: close', () => {
  it('stops counting, auditing and charting: a check after close changes nothing', async () => {
    const { lapse, observability, send, auditLines } = setup();
    const { id } = await lapse.authority.begin({ subject: 'alice' });
    await send('GET', '/api/me', cookie(id));
    await observability.close();
    const counts = await observability.metrics.counts();
    /** The scrape without the live/warning gauges: those read the store, closed or not. */
    const scrape = async () =>
      (await observability.metrics.metricsText())
        .split('\n')
        .filter((line) => !/^lapse_sessions_(active|warning) /.test(line));
    const text = await scrape();
    const lines = auditLines();
    const buckets = observability.timeline.buckets();

    await send('GET', '/api/me', cookie(id));
    await send('GET', '/api/me', cookie(UNKNOWN_ID));
    await send('GET', '/api/poll', cookie(id));
    await lapse.authority.begin({ subject: 'bob' });
    await lapse.authority.revoke(id, 'logout');

    expect(await observability.metrics.counts()).toEqual(counts);
    expect(await scrape()).toEqual(text);
    expect(auditLines()).toEqual(lines);
    expect(observability.timeline.buckets()).toEqual(buckets);
  });
});

describe('observeLapse: WebSocket connections', () => {
  it('counts opens and closes until a provider is set, then the provider wins', async () => {
    const { observability, sample } = setup();
    const { metrics } = observability;
    metrics.wsOpened();
    metrics.wsOpened();
    metrics.wsOpened();
    metrics.wsClosed();
    expect((await metrics.counts()).wsConnections).toBe(2);
    expect(await sample('lapse_ws_connections')).toBe(2);

    let open = 7;
    metrics.setWebSocketProvider(() => open);
    expect((await metrics.counts()).wsConnections).toBe(7);
    metrics.wsOpened();
    metrics.wsClosed();
    metrics.wsClosed();
    expect(await sample('lapse_ws_connections')).toBe(7);
    open = 4;
    expect((await metrics.counts()).wsConnections).toBe(4);
    expect(await sample('lapse_ws_connections')).toBe(4);
  });
});
