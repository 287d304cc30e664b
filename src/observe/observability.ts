import { pino } from 'pino';
import { OptionError } from '../errors.js';
import type { CheckReport, Lapse } from '../http/lapse.js';
import { type Clock, systemClock } from '../session/clock.js';
import { AnomalyDetector, type AnomalyDetectorOptions } from './anomaly-detector.js';
import { AuditLog, type AuditLogOptions, type ReloadReport } from './audit-log.js';
import { EndsTimeline } from './ends-timeline.js';
import { LapseMetrics } from './metrics.js';
import { SessionCensus, type SessionCensusOptions } from './session-census.js';

/** Options of {@link observeLapse}. */
export interface ObservabilityOptions {
  /**
   * The audit log: its destination (`'stdout'`, `'stderr'`, a file path, or
   * a pino destination), salt and how many recent events it keeps.
   * Default: `{ destination: 'stdout' }`.
   */
  readonly audit?: Omit<AuditLogOptions, 'destination' | 'clock'> & {
    readonly destination?: AuditLogOptions['destination'];
  };
  /** Thresholds of the anomaly detector (see `AnomalyDetectorOptions`). */
  readonly anomalies?: Omit<AnomalyDetectorOptions, 'onAnomaly' | 'clock'>;
  /** How often this instance's clock is compared with the store's, ms; 0: never. Default: 30,000. */
  readonly clockSkewIntervalMs?: number;
  /** How live sessions are counted for the gauges and the dashboard. */
  readonly census?: SessionCensusOptions;
  /** Where "now" comes from (audit times, anomaly windows). Default: the system clock. */
  readonly clock?: Clock;
  /** Where background failures go (a clock comparison with an unreachable store). Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

function auditDestination(destination: AuditLogOptions['destination'] | undefined) {
  if (destination === undefined || destination === 'stdout') return pino.destination(1);
  if (destination === 'stderr') return pino.destination(2);
  return destination;
}

/**
 * Metrics, the audit log and anomaly detection (SPEC section 6), wired to
 * one enforcement point. What `lapse serve` runs, and what a middleware user
 * creates beside `createLapse()` to get the same metrics (mount
 * `observability.metrics.registry`) and audit trail, or an admin listener
 * (`createAdminServer`).
 *
 * Every check the enforcement point makes is counted by verdict and timed
 * (`lapse_requests_total`, `lapse_check_duration_seconds`) and shown to the
 * anomaly detector (extends, the browser SDK's deliberately paced
 * heartbeats, are not judged for machine-regular timing); every session event is counted, audited and charted; a
 * store failure is counted (`lapse_store_errors_total`); the store's clock
 * is compared with this one every `clockSkewIntervalMs`.
 *
 * @example
 * import { createLapse } from 'lapse';
 * import { observeLapse } from 'lapse/admin';
 * const lapse = createLapse({ policy, store });
 * const observability = observeLapse(lapse, { audit: { destination: './audit.log' } });
 * app.get('/metrics', async (_req, res) => {
 *   res.type(observability.metrics.contentType).send(await observability.metrics.metricsText());
 * });
 */
export class Observability {
  readonly metrics: LapseMetrics;
  readonly audit: AuditLog;
  readonly detector: AnomalyDetector;
  readonly timeline: EndsTimeline;
  readonly census: SessionCensus;
  readonly #lapse: Lapse;
  readonly #stops: (() => void)[];
  readonly #onError: (error: unknown) => void;
  readonly #clock: Clock;
  #skewTimer: ReturnType<typeof setInterval> | undefined;
  #loadedAt: number;

  constructor(lapse: Lapse, options: ObservabilityOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new OptionError('options', 'pass { audit, anomalies, ... } or nothing');
    }
    const clock = options.clock ?? systemClock;
    const onError =
      options.onError ?? ((error) => console.error('lapse: observability failed', error));
    const skewEveryMs = options.clockSkewIntervalMs ?? 30_000;
    if (!Number.isSafeInteger(skewEveryMs) || skewEveryMs < 0) {
      throw new OptionError(
        'clockSkewIntervalMs',
        `expected a whole number of ms >= 0, got ${String(skewEveryMs)}`,
      );
    }
    this.#lapse = lapse;
    this.#onError = onError;
    this.#clock = clock;
    this.#loadedAt = clock.now();
    const authority = lapse.authority;
    this.metrics = new LapseMetrics({ onCollectError: onError });
    this.audit = new AuditLog({
      ...options.audit,
      destination: auditDestination(options.audit?.destination),
      clock,
    });
    this.detector = new AnomalyDetector({
      ...options.anomalies,
      clock,
      onError,
      onAnomaly: (anomaly) => {
        this.metrics.recordAnomaly(anomaly.kind);
        this.audit.recordAnomaly(anomaly);
      },
    });
    this.timeline = new EndsTimeline({ clock });
    this.census = new SessionCensus(authority, options.census);
    this.metrics.setActiveProvider(async () => (await this.census.count()).active);
    this.metrics.setWarningProvider(async () => (await this.census.count()).warning);
    this.#stops = [
      this.metrics.observeAuthority(authority),
      this.audit.observeAuthority(authority),
      this.detector.observeAuthority(authority),
      this.timeline.observeAuthority(authority),
      ...(['begin', 'expire', 'revoke'] as const).map((type) =>
        authority.on(type, () => this.census.markStale()),
      ),
      lapse.onCheck((report) => this.#onCheck(report)),
    ];
    if (skewEveryMs > 0) {
      this.#skewTimer = setInterval(() => void this.checkClockSkew(), skewEveryMs);
      this.#skewTimer.unref();
      void this.checkClockSkew();
    }
  }

  /** The enforcement point observed. */
  get lapse(): Lapse {
    return this.#lapse;
  }

  /** When the policy in force was put in force (construction or the last good reload), epoch ms. */
  get policyLoadedAt(): number {
    return this.#loadedAt;
  }

  /**
   * Count and audit a policy reload. Fits the gateway reloader's `onReload`:
   * `onReload: (result, trigger) => observability.recordReload(result, trigger)`.
   */
  recordReload(report: ReloadReport, trigger?: string): void {
    this.metrics.recordReload(report.result);
    this.audit.recordReload(report, trigger);
    if (report.result === 'ok') this.policyChanged();
  }

  /** Note that a new policy was put in force now (`policyLoadedAt`). */
  policyChanged(): void {
    this.#loadedAt = this.#clock.now();
  }

  /**
   * Compare the store's clock with this instance's now (what the timer does
   * every `clockSkewIntervalMs`). Resolves with the skew in ms (positive: the
   * store is ahead), or `undefined` when the store could not be read.
   */
  async checkClockSkew(): Promise<number | undefined> {
    const before = this.#clock.now();
    try {
      const storeNow = await this.#lapse.authority.store.now();
      const after = this.#clock.now();
      return this.detector.checkClockSkew(storeNow, before + (after - before) / 2);
    } catch (error) {
      this.metrics.recordStoreError();
      this.#onError(error);
      return undefined;
    }
  }

  /** Stop listening and comparing clocks, and flush the audit log. */
  async close(): Promise<void> {
    clearInterval(this.#skewTimer);
    for (const stop of this.#stops.splice(0)) stop();
    await this.audit.flush();
  }

  #onCheck(report: CheckReport): void {
    if (report.outcome !== 'verdict') {
      this.metrics.recordStoreError();
      this.metrics.recordRequest(report.outcome, report.seconds);
      return;
    }
    const { verdict, passive, mode } = report;
    this.metrics.recordRequest(
      verdict.ok ? (passive ? 'passive' : 'allowed') : 'rejected',
      report.seconds,
    );
    // Extends are the browser SDK's heartbeats, paced on purpose: their regularity
    // says nothing (extension storms watch their rate). Their deadlines are checked.
    this.detector.observeVerdict(verdict, { passive: passive || mode === 'extend' });
  }
}

/**
 * Observe one enforcement point: metrics, audit log, anomalies (see
 * {@link Observability}).
 *
 * @example
 * import { observeLapse } from 'lapse/admin';
 * const observability = observeLapse(lapse);
 */
export function observeLapse(lapse: Lapse, options?: ObservabilityOptions): Observability {
  return new Observability(lapse, options);
}
