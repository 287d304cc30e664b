import { register as globalRegistry } from 'prom-client';
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import type { ReloadResult } from '../gateway/policy-reloader.js';
import type { Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import { MemoryStore } from '../store/memory-store.js';
import { ANOMALY_KINDS } from './anomaly-detector.js';
import { LapseMetrics, type ReloadOutcome } from './metrics.js';

const START = 1_800_000_000_000;

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 10_000, absoluteMs: 60_000, warnMs: 2_000 },
  ceilings: {},
  rules: [{ name: 'admins', match: { roles: ['admin'] }, idleMs: 5_000 }],
  passive: [],
};

function setup() {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: POLICY, store });
  const metrics = new LapseMetrics();
  const stop = metrics.observeAuthority(authority);
  return { clock, authority, metrics, stop };
}

/** The sample lines (no comments) of a scrape. */
async function samples(metrics: LapseMetrics): Promise<string[]> {
  const text = await metrics.metricsText();
  return text.split('\n').filter((line) => line.length > 0 && !line.startsWith('#'));
}

describe('LapseMetrics', () => {
  it('exports exactly the SPEC metric names and types, in a registry of its own', async () => {
    const metrics = new LapseMetrics();
    const text = await metrics.metricsText();
    const types = Object.fromEntries(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name, type]),
    );
    expect(types).toEqual({
      lapse_sessions_active: 'gauge',
      lapse_sessions_started_total: 'counter',
      lapse_sessions_ended_total: 'counter',
      lapse_requests_total: 'counter',
      lapse_check_duration_seconds: 'histogram',
      lapse_extensions_total: 'counter',
      lapse_ws_connections: 'gauge',
      lapse_store_errors_total: 'counter',
      lapse_policy_reloads_total: 'counter',
      lapse_anomalies_total: 'counter',
      lapse_sessions_warning: 'gauge',
    });
    expect(metrics.registry).not.toBe(globalRegistry);
    expect(await globalRegistry.metrics()).not.toContain('lapse_');
    // A second instance registers the same names without a clash.
    expect(() => new LapseMetrics()).not.toThrow();
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('exports every known label value as 0 before anything happens', async () => {
    const lines = await samples(new LapseMetrics());
    for (const reason of ['idle', 'absolute', 'revoked']) {
      expect(lines).toContain(`lapse_sessions_ended_total{reason="${reason}"} 0`);
    }
    for (const verdict of ['allowed', 'passive', 'rejected', 'unavailable', 'unverified']) {
      expect(lines).toContain(`lapse_requests_total{verdict="${verdict}"} 0`);
    }
    for (const result of ['ok', 'unchanged', 'rejected']) {
      expect(lines).toContain(`lapse_policy_reloads_total{result="${result}"} 0`);
    }
    for (const kind of ANOMALY_KINDS) {
      expect(lines).toContain(`lapse_anomalies_total{kind="${kind}"} 0`);
    }
    expect(lines).toContain('lapse_sessions_started_total 0');
    expect(lines).toContain('lapse_sessions_active 0');
    expect(lines).toContain('lapse_sessions_warning 0');
  });

  it('counts sessions started, extended and ended by reason from scripted authority traffic', async () => {
    const { clock, authority, metrics } = setup();
    const a = await authority.begin({ subject: 'alice' });
    const b = await authority.begin({ subject: 'bob' });
    await authority.begin({ subject: 'carol' });
    clock.advance(5_000);
    await authority.extend(a.id);
    await authority.extend(a.id);
    clock.advance(6_000); // t = 11 s: bob and carol idle since 10 s, alice until 15 s
    expect(await authority.check(b.id)).toMatchObject({ ok: false, reason: 'idle' });
    expect(await authority.check(b.id)).toMatchObject({ ok: false, reason: 'idle' });
    expect(await authority.sweep()).toBe(1); // carol; bob was already counted by his check
    expect(await authority.sweep()).toBe(0);
    await authority.revoke(a.id, 'logout');
    await authority.revoke(a.id, 'logout'); // already ended: not counted again

    const d = await authority.begin({ subject: 'dave' });
    const rotated = await authority.rotate(d.id);
    if (!rotated.ok) throw new Error('rotation failed');
    // Keep dave active past the absolute deadline: activity every 8 s.
    for (let t = 0; t < 56_000; t += 8_000) {
      clock.advance(8_000);
      expect(await authority.check(rotated.id)).toMatchObject({ ok: true });
    }
    clock.advance(8_000);
    expect(await authority.check(rotated.id)).toMatchObject({ ok: false, reason: 'absolute' });
    await authority.revokeSubject('erin');

    const lines = await samples(metrics);
    expect(lines).toContain('lapse_sessions_started_total 4');
    expect(lines).toContain('lapse_extensions_total 2');
    expect(lines).toContain('lapse_sessions_ended_total{reason="idle"} 2');
    expect(lines).toContain('lapse_sessions_ended_total{reason="absolute"} 1');
    expect(lines).toContain('lapse_sessions_ended_total{reason="revoked"} 1');
    // The authority's events never reach request counters: those are the caller's to record.
    expect(lines).toContain('lapse_requests_total{verdict="rejected"} 0');
    const text = await metrics.metricsText();
    for (const secret of [
      'alice',
      'bob',
      'carol',
      'dave',
      a.id,
      a.record.idHash,
      b.record.idHash,
    ]) {
      expect(text).not.toContain(secret);
    }
  });

  it('counts a revoke of several sessions of one subject once per session', async () => {
    const { authority, metrics } = setup();
    await authority.begin({ subject: 'alice' });
    await authority.begin({ subject: 'alice' });
    await authority.begin({ subject: 'bob' });
    expect(await authority.revokeSubject('alice', 'admin')).toBe(2);
    expect(await samples(metrics)).toContain('lapse_sessions_ended_total{reason="revoked"} 2');
  });

  it('stops counting once unsubscribed', async () => {
    const { authority, metrics, stop } = setup();
    await authority.begin({ subject: 'alice' });
    stop();
    await authority.begin({ subject: 'bob' });
    expect(await samples(metrics)).toContain('lapse_sessions_started_total 1');
  });

  it('counts requests by verdict and puts check durations in µs-to-ms buckets', async () => {
    const metrics = new LapseMetrics();
    metrics.recordRequest('allowed', 0.00004);
    metrics.recordRequest('allowed', 0.0003);
    metrics.recordRequest('passive', 0.0003);
    metrics.recordRequest('rejected', 0.002);
    metrics.recordRequest('unavailable', 0.2);
    metrics.recordRequest('unverified', 3);
    const lines = await samples(metrics);
    expect(lines).toContain('lapse_requests_total{verdict="allowed"} 2');
    expect(lines).toContain('lapse_requests_total{verdict="passive"} 1');
    expect(lines).toContain('lapse_requests_total{verdict="rejected"} 1');
    expect(lines).toContain('lapse_requests_total{verdict="unavailable"} 1');
    expect(lines).toContain('lapse_requests_total{verdict="unverified"} 1');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="0.00005"} 1');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="0.00025"} 1');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="0.0005"} 3');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="0.0025"} 4');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="0.25"} 5');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="1"} 5');
    expect(lines).toContain('lapse_check_duration_seconds_bucket{le="+Inf"} 6');
    expect(lines).toContain('lapse_check_duration_seconds_count 6');
  });

  it('refuses a label value outside the known set, and a duration that is not one', () => {
    const metrics = new LapseMetrics();
    const asAny = metrics as unknown as Record<string, (...args: unknown[]) => void>;
    const invalid = { code: 'LAPSE_OPTION_INVALID' };
    expect(() => asAny.recordRequest?.call(metrics, 'user-42', 0.001)).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => metrics.recordRequest('allowed', -1)).toThrow(expect.objectContaining(invalid));
    expect(() => metrics.recordRequest('allowed', Number.NaN)).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => asAny.recordReload?.call(metrics, 'maybe')).toThrow(
      expect.objectContaining(invalid),
    );
    expect(() => asAny.recordAnomaly?.call(metrics, 'alice')).toThrow(
      expect.objectContaining(invalid),
    );
  });

  it('counts store errors, reloads, anomalies and open WebSockets', async () => {
    const metrics = new LapseMetrics();
    metrics.recordStoreError();
    metrics.recordStoreError();
    metrics.recordReload('ok');
    metrics.recordReload('rejected');
    metrics.recordReload('ok');
    metrics.recordAnomaly('replayed_id');
    metrics.recordAnomaly('past_deadline');
    metrics.wsOpened();
    metrics.wsOpened();
    metrics.wsOpened();
    metrics.wsClosed();
    let lines = await samples(metrics);
    expect(lines).toContain('lapse_store_errors_total 2');
    expect(lines).toContain('lapse_policy_reloads_total{result="ok"} 2');
    expect(lines).toContain('lapse_policy_reloads_total{result="rejected"} 1');
    expect(lines).toContain('lapse_policy_reloads_total{result="unchanged"} 0');
    expect(lines).toContain('lapse_anomalies_total{kind="replayed_id"} 1');
    expect(lines).toContain('lapse_anomalies_total{kind="past_deadline"} 1');
    expect(lines).toContain('lapse_anomalies_total{kind="clock_skew"} 0');
    expect(lines).toContain('lapse_ws_connections 2');
    for (let i = 0; i < 5; i += 1) metrics.wsClosed();
    lines = await samples(metrics);
    expect(lines).toContain('lapse_ws_connections 0');
    metrics.wsOpened();
    expect(await samples(metrics)).toContain('lapse_ws_connections 1');
  });

  it('computes the active and warning gauges at each scrape from their providers', async () => {
    const metrics = new LapseMetrics();
    let active = 3;
    metrics.setActiveProvider(() => active);
    metrics.setWarningProvider(async () => 1);
    expect(await samples(metrics)).toEqual(
      expect.arrayContaining(['lapse_sessions_active 3', 'lapse_sessions_warning 1']),
    );
    active = 7;
    expect(await samples(metrics)).toContain('lapse_sessions_active 7');
  });

  it('still answers a scrape when a provider fails: that gauge reads NaN and the error is reported', async () => {
    const onCollectError = vi.fn();
    const metrics = new LapseMetrics({ onCollectError });
    metrics.setActiveProvider(() => 2);
    metrics.setWarningProvider(() => Promise.reject(new Error('store down')));
    metrics.recordStoreError();
    const lines = await samples(metrics);
    // prom-client spells NaN `Nan`; Prometheus parses it without regard to case.
    expect(lines).toContain('lapse_sessions_warning Nan');
    expect(lines).toContain('lapse_sessions_active 2');
    expect(lines).toContain('lapse_store_errors_total 1');
    expect(onCollectError).toHaveBeenCalledWith(expect.objectContaining({ message: 'store down' }));
    metrics.setWarningProvider(() => -1);
    expect(await samples(metrics)).toContain('lapse_sessions_warning Nan');
    expect(onCollectError).toHaveBeenLastCalledWith(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID' }),
    );
  });

  it('takes the policy reloader result values as its reload results', () => {
    expectTypeOf<ReloadResult['result']>().toEqualTypeOf<ReloadOutcome>();
  });
});
