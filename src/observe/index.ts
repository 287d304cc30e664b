/**
 * Observability: Prometheus metrics, the audit log and anomaly detection
 * (SPEC section 6), exported through `lapse/admin`.
 *
 * @example
 * import { pino } from 'pino';
 * import { AnomalyDetector, AuditLog, LapseMetrics } from './observe/index.js';
 * const metrics = new LapseMetrics();
 * const audit = new AuditLog({ destination: pino.destination(1) });
 * const detector = new AnomalyDetector({
 *   onAnomaly: (anomaly) => {
 *     metrics.recordAnomaly(anomaly.kind);
 *     audit.recordAnomaly(anomaly);
 *   },
 * });
 * for (const observer of [metrics, audit, detector]) observer.observeAuthority(authority);
 *
 * @packageDocumentation
 */

export {
  ANOMALY_KINDS,
  type Anomaly,
  AnomalyDetector,
  type AnomalyDetectorOptions,
  type AnomalyKind,
  type AnomalySession,
  gapVariation,
} from './anomaly-detector.js';
export {
  type AuditDetailValue,
  type AuditEvent,
  type AuditEventName,
  type AuditListener,
  AuditLog,
  type AuditLogOptions,
  type ReloadReport,
} from './audit-log.js';
export { BoundedMap } from './bounded-map.js';
export { type EndsBucket, EndsTimeline, type EndsTimelineOptions } from './ends-timeline.js';
export {
  CHECK_DURATION_BUCKETS,
  END_REASONS,
  type GaugeProvider,
  LapseMetrics,
  type LapseMetricsOptions,
  type MetricEndReason,
  RELOAD_RESULTS,
  REQUEST_VERDICTS,
  type ReloadOutcome,
  type RequestVerdict,
} from './metrics.js';
export { Observability, type ObservabilityOptions, observeLapse } from './observability.js';
export {
  type Census,
  type CurrentDeadlines,
  currentDeadlines,
  SessionCensus,
  type SessionCensusOptions,
} from './session-census.js';
