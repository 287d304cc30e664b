import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { OptionError } from '../errors.js';
import type { SessionAuthority } from '../session/authority.js';
import { ANOMALY_KINDS, type AnomalyKind } from './anomaly-detector.js';

/**
 * The `verdict` label of `lapse_requests_total`, one per request that asked
 * the authority (public paths that checked nothing are not counted):
 *
 * - `allowed`: a live session, counted as activity;
 * - `passive`: a live session checked without counting as activity (passive
 *   traffic, `/_lapse/status`);
 * - `rejected`: no live session (missing, invalid, idle, absolute, revoked);
 * - `unavailable`: the store could not be reached and the request was
 *   refused (503, failing closed);
 * - `unverified`: the store could not be reached and the request was let
 *   through unchecked (`onStoreError: allow`, failing open).
 */
export const REQUEST_VERDICTS = [
  'allowed',
  'passive',
  'rejected',
  'unavailable',
  'unverified',
] as const;

/** One of {@link REQUEST_VERDICTS}. */
export type RequestVerdict = (typeof REQUEST_VERDICTS)[number];

/**
 * The `reason` label of `lapse_sessions_ended_total`. A revocation counts as
 * `revoked` whatever its free-form reason (`logout`, `admin` ...: those are in
 * the audit log), so the label stays low-cardinality. A rotation ends no
 * session: the same session goes on under a new id.
 */
export const END_REASONS = ['idle', 'absolute', 'revoked'] as const;

/** One of {@link END_REASONS}. */
export type MetricEndReason = (typeof END_REASONS)[number];

/** The `result` label of `lapse_policy_reloads_total` (the reloader's `ReloadResult['result']`). */
export const RELOAD_RESULTS = ['ok', 'unchanged', 'rejected'] as const;

/** One of {@link RELOAD_RESULTS}. */
export type ReloadOutcome = (typeof RELOAD_RESULTS)[number];

/**
 * Buckets of `lapse_check_duration_seconds`: 50 µs (the memory store) to 1 s
 * (a struggling Redis), roughly 1-2.5-5 per decade.
 */
export const CHECK_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
]);

/** A number computed at scrape time (may be async, e.g. a count from the store). */
export type GaugeProvider = () => number | Promise<number>;

/** Options of {@link LapseMetrics}. */
export interface LapseMetricsOptions {
  /**
   * Where a provider's failure goes. The scrape still succeeds; that gauge
   * reads `NaN` (a gap on a graph, never a stale number or a false alert;
   * prom-client prints it `Nan`, which Prometheus parses alike). Default:
   * console.error.
   */
  readonly onCollectError?: (error: unknown) => void;
}

function checkLabel<T extends string>(
  option: string,
  allowed: readonly T[],
  value: unknown,
): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw new OptionError(option, `expected one of ${allowed.join(', ')}, got ${String(value)}`);
  }
}

/**
 * The Prometheus metrics of SPEC section 6, in a registry of their own (never
 * prom-client's global default). Labels are low-cardinality (`reason`,
 * `verdict`, `result`, `kind`); never a subject or a session id. Every label
 * value is known in advance and exported as 0 from the start, so `rate()` and
 * `increase()` see the first event; a value outside the known set throws.
 *
 * - `lapse_sessions_active`, `lapse_sessions_warning`: gauges computed at
 *   scrape time by the providers given to {@link setActiveProvider} and
 *   {@link setWarningProvider} (0 until one is given). The warning provider
 *   counts live sessions with `warnAt <= now < min(idleExpiresAt,
 *   absoluteExpiresAt)` on the store's clock, i.e. sessions whose status
 *   `state` is `warning` right now.
 * - `lapse_sessions_started_total`, `lapse_sessions_ended_total{reason}`,
 *   `lapse_extensions_total`: from the authority's events ({@link observeAuthority}).
 *   Expiries count once whoever noticed them (a request, the sweep, a late revoke).
 * - `lapse_requests_total{verdict}`, `lapse_check_duration_seconds`: {@link recordRequest}.
 * - `lapse_ws_connections`, `lapse_store_errors_total`,
 *   `lapse_policy_reloads_total{result}`, `lapse_anomalies_total{kind}`: the other `record*` methods.
 *
 * @example
 * import { LapseMetrics } from './observe/index.js';
 * const metrics = new LapseMetrics();
 * metrics.observeAuthority(authority);
 * const started = performance.now();
 * const verdict = await authority.check(id);
 * metrics.recordRequest(verdict.ok ? 'allowed' : 'rejected', (performance.now() - started) / 1000);
 * response.setHeader('Content-Type', metrics.contentType);
 * response.end(await metrics.metricsText());
 */
export class LapseMetrics {
  readonly #registry = new Registry();
  readonly #onCollectError: (error: unknown) => void;
  readonly #active: Gauge;
  readonly #warning: Gauge;
  readonly #started: Counter;
  readonly #ended: Counter<'reason'>;
  readonly #requests: Counter<'verdict'>;
  readonly #checkDuration: Histogram;
  readonly #extensions: Counter;
  readonly #wsConnections: Gauge;
  readonly #storeErrors: Counter;
  readonly #reloads: Counter<'result'>;
  readonly #anomalies: Counter<'kind'>;
  /**
   * Requests by verdict as plain numbers, copied into the counter when it is
   * read: the per-request cost is one increment, not a label hash.
   */
  readonly #requestCounts = new Map<string, number>(
    REQUEST_VERDICTS.map((verdict) => [verdict, 0]),
  );
  #activeProvider: GaugeProvider | undefined;
  #warningProvider: GaugeProvider | undefined;
  #wsProvider: GaugeProvider | undefined;
  #openSockets = 0;

  constructor(options: LapseMetricsOptions = {}) {
    this.#onCollectError =
      options.onCollectError ??
      ((error) => console.error('lapse: a metrics gauge provider failed', error));
    const registers = [this.#registry];
    this.#active = new Gauge({
      name: 'lapse_sessions_active',
      help: 'Live sessions (not ended) in the store, counted at scrape time.',
      registers,
      collect: async () => this.#active.set(await this.#provide(this.#activeProvider)),
    });
    this.#started = new Counter({
      name: 'lapse_sessions_started_total',
      help: 'Sessions started.',
      registers,
    });
    this.#ended = new Counter({
      name: 'lapse_sessions_ended_total',
      help: 'Sessions ended, by reason (idle, absolute, revoked).',
      labelNames: ['reason'],
      registers,
    });
    this.#requests = new Counter({
      name: 'lapse_requests_total',
      help: 'Checked requests, by verdict (allowed, passive, rejected, unavailable, unverified).',
      labelNames: ['verdict'],
      registers,
      collect: () => {
        this.#requests.reset();
        for (const [verdict, count] of this.#requestCounts) this.#requests.inc({ verdict }, count);
      },
    });
    this.#checkDuration = new Histogram({
      name: 'lapse_check_duration_seconds',
      help: 'Time to decide one request, store round trip included.',
      buckets: [...CHECK_DURATION_BUCKETS],
      registers,
    });
    this.#extensions = new Counter({
      name: 'lapse_extensions_total',
      help: 'Sessions extended ("stay signed in").',
      registers,
    });
    this.#wsConnections = new Gauge({
      name: 'lapse_ws_connections',
      help: 'Open WebSocket connections through the gateway.',
      registers,
      collect: async () => {
        if (this.#wsProvider !== undefined) {
          this.#wsConnections.set(await this.#provide(this.#wsProvider));
        }
      },
    });
    this.#storeErrors = new Counter({
      name: 'lapse_store_errors_total',
      help: 'Session store operations that failed (store unreachable).',
      registers,
    });
    this.#reloads = new Counter({
      name: 'lapse_policy_reloads_total',
      help: 'Policy reloads, by result (ok, unchanged, rejected).',
      labelNames: ['result'],
      registers,
    });
    this.#anomalies = new Counter({
      name: 'lapse_anomalies_total',
      help: 'Anomalies detected, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.#warning = new Gauge({
      name: 'lapse_sessions_warning',
      help: 'Live sessions now inside their warning period, counted at scrape time.',
      registers,
      collect: async () => this.#warning.set(await this.#provide(this.#warningProvider)),
    });
    for (const reason of END_REASONS) this.#ended.inc({ reason }, 0);
    for (const verdict of REQUEST_VERDICTS) this.#requests.inc({ verdict }, 0);
    for (const result of RELOAD_RESULTS) this.#reloads.inc({ result }, 0);
    for (const kind of ANOMALY_KINDS) this.#anomalies.inc({ kind }, 0);
  }

  /** The registry holding every lapse metric: mount it, or merge it with your own. */
  get registry(): Registry {
    return this.#registry;
  }

  /** The `Content-Type` of {@link metricsText}. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** The metrics in Prometheus text format (runs the gauge providers). */
  metricsText(): Promise<string> {
    return this.#registry.metrics();
  }

  /**
   * Count an authority's sessions started, ended and extended. Returns a
   * function that stops listening.
   */
  observeAuthority(authority: Pick<SessionAuthority, 'on'>): () => void {
    const stops = [
      authority.on('begin', () => this.#started.inc()),
      authority.on('extend', () => this.#extensions.inc()),
      authority.on('expire', ({ reason }) => this.#ended.inc({ reason })),
      authority.on('revoke', () => this.#ended.inc({ reason: 'revoked' })),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  }

  /** Count one checked request and how long its check took, in seconds. */
  recordRequest(verdict: RequestVerdict, seconds: number): void {
    const count = this.#requestCounts.get(verdict);
    if (count === undefined) checkLabel('verdict', REQUEST_VERDICTS, verdict);
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
      throw new OptionError(
        'seconds',
        `expected a duration in seconds >= 0, got ${String(seconds)}`,
      );
    }
    this.#requestCounts.set(verdict, (count as number) + 1);
    this.#checkDuration.observe(seconds);
  }

  /** Count one failed store operation (a request's check, the sweep, a revoke ...). */
  recordStoreError(): void {
    this.#storeErrors.inc();
  }

  /** Count one policy reload by result (pass the reloader's `result.result`). */
  recordReload(result: ReloadOutcome): void {
    checkLabel('result', RELOAD_RESULTS, result);
    this.#reloads.inc({ result });
  }

  /** Count one anomaly (wire {@link AnomalyDetector}'s `onAnomaly` here). */
  recordAnomaly(kind: AnomalyKind): void {
    checkLabel('kind', ANOMALY_KINDS, kind);
    this.#anomalies.inc({ kind });
  }

  /** A WebSocket connection opened. */
  wsOpened(): void {
    this.#openSockets += 1;
    this.#wsConnections.set(this.#openSockets);
  }

  /**
   * A WebSocket connection closed. A close without a matching open (`close`
   * after `error`, say) is ignored, so the gauge never goes negative.
   */
  wsClosed(): void {
    if (this.#openSockets === 0) return;
    this.#openSockets -= 1;
    this.#wsConnections.set(this.#openSockets);
  }

  /** Compute `lapse_sessions_active` at each scrape with `provider`. */
  setActiveProvider(provider: GaugeProvider): void {
    if (typeof provider !== 'function') throw new OptionError('provider', 'pass a function');
    this.#activeProvider = provider;
  }

  /**
   * Compute `lapse_sessions_warning` at each scrape with `provider`: the
   * number of live sessions whose status `state` is `warning` now.
   */
  setWarningProvider(provider: GaugeProvider): void {
    if (typeof provider !== 'function') throw new OptionError('provider', 'pass a function');
    this.#warningProvider = provider;
  }

  /**
   * Compute `lapse_ws_connections` at each scrape with `provider` (the
   * gateway's open connections) instead of counting {@link wsOpened} and
   * {@link wsClosed}.
   */
  setWebSocketProvider(provider: GaugeProvider): void {
    if (typeof provider !== 'function') throw new OptionError('provider', 'pass a function');
    this.#wsProvider = provider;
  }

  /** The counters as numbers, by label (for a dashboard that reads them without a scrape). */
  async counts(): Promise<{
    readonly requests: Readonly<Record<RequestVerdict, number>>;
    readonly anomalies: Readonly<Record<AnomalyKind, number>>;
    readonly ended: Readonly<Record<MetricEndReason, number>>;
    readonly wsConnections: number;
  }> {
    const byLabel = async <T extends string>(
      metric: Counter<T>,
      label: T,
      values: readonly string[],
    ): Promise<Record<string, number>> => {
      const counts: Record<string, number> = Object.fromEntries(values.map((value) => [value, 0]));
      for (const sample of (await metric.get()).values) {
        const value = sample.labels[label];
        if (typeof value === 'string') counts[value] = sample.value;
      }
      return counts;
    };
    const ws = await this.#wsConnections.get();
    return {
      requests: (await byLabel(this.#requests, 'verdict', REQUEST_VERDICTS)) as Record<
        RequestVerdict,
        number
      >,
      anomalies: (await byLabel(this.#anomalies, 'kind', ANOMALY_KINDS)) as Record<
        AnomalyKind,
        number
      >,
      ended: (await byLabel(this.#ended, 'reason', END_REASONS)) as Record<MetricEndReason, number>,
      wsConnections: ws.values[0]?.value ?? 0,
    };
  }

  async #provide(provider: GaugeProvider | undefined): Promise<number> {
    if (provider === undefined) return 0;
    try {
      const value = await provider();
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new OptionError('provider', `a gauge provider returned ${String(value)}`);
      }
      return value;
    } catch (error) {
      this.#onCollectError(error);
      return Number.NaN;
    }
  }
}
