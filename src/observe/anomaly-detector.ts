import { OptionError } from '../errors.js';
import type { SessionAuthority, Verdict } from '../session/authority.js';
import { type Clock, systemClock } from '../session/clock.js';
import { nextDeadline } from '../session/decide.js';
import type { AuthorityEvents } from '../session/events.js';
import type { SessionRecord, SessionStatus } from '../session/types.js';
import { BoundedMap } from './bounded-map.js';

/** Every anomaly kind, in the order they are documented (also the `kind` label values). */
export const ANOMALY_KINDS = [
  'replayed_id',
  'past_deadline',
  'extension_storm',
  'clock_skew',
  'automated_keepalive',
] as const;

/** One of {@link ANOMALY_KINDS}. */
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

/** The session an anomaly is about. `idHash` is a stable identifier: log it only salted (AuditLog does). */
export interface AnomalySession {
  readonly idHash: string;
  readonly subject: string;
  readonly rule: string;
}

/** Something that should not happen, or looks like abuse. */
export interface Anomaly {
  readonly kind: AnomalyKind;
  /** `error` for what must never happen (`past_deadline`), `warn` for the rest. */
  readonly level: 'warn' | 'error';
  /** When it was detected, epoch ms on the detector's clock. */
  readonly time: number;
  /** A short, low-cardinality reason (`rotated`, `revoked`, `idle`, `store_ahead`, `regular` ...). */
  readonly reason: string;
  readonly session?: AnomalySession;
  /** Numbers behind the decision, for the audit line. */
  readonly detail: Readonly<Record<string, number | string | boolean>>;
}

/** Options of {@link AnomalyDetector}; every count and duration is checked at construction. */
export interface AnomalyDetectorOptions {
  /** Told of every anomaly (wire metrics and the audit log here). */
  readonly onAnomaly: (anomaly: Anomaly) => void;
  /** Where "now" comes from. Default: the system clock. */
  readonly clock?: Clock;
  /** Most subjects or sessions each detector remembers (least recently seen forgotten first). Default: 10,000. */
  readonly maxTracked?: number;
  /** `replayed_id`: the window rejections of ended ids are counted in, per subject. Default: 60 s. */
  readonly replayWindowMs?: number;
  /** `replayed_id`: rejections of ended (expired or revoked) ids per subject per window that flag. Default: 10. */
  readonly replayThreshold?: number;
  /** `extension_storm`: more extends than this per session within `stormWindowMs` flag. Default: 10. */
  readonly stormMaxExtends?: number;
  /** `extension_storm`: the sliding window. Default: 60 s. */
  readonly stormWindowMs?: number;
  /** `clock_skew`: store and local clocks further apart than this flag. Default: 2,000 ms. */
  readonly clockSkewThresholdMs?: number;
  /** `automated_keepalive`: gaps between activities judged at once (at least 8). Default: 8. */
  readonly keepaliveSamples?: number;
  /** `automated_keepalive`: a coefficient of variation of the gaps below this flags. Default: 0.1. */
  readonly keepaliveMaxCv?: number;
  /** `automated_keepalive`: activity closer than this to the last counted one is the same burst. Default: 1,000 ms. */
  readonly keepaliveMinGapMs?: number;
  /** Where an error thrown by `onAnomaly` goes (detection never breaks enforcement). Default: console.error. */
  readonly onError?: (error: unknown) => void;
}

interface Settings {
  readonly maxTracked: number;
  readonly replayWindowMs: number;
  readonly replayThreshold: number;
  readonly stormMaxExtends: number;
  readonly stormWindowMs: number;
  readonly clockSkewThresholdMs: number;
  readonly keepaliveSamples: number;
  readonly keepaliveMaxCv: number;
  readonly keepaliveMinGapMs: number;
}

interface ReplayWindow {
  readonly startedAt: number;
  count: number;
  isFlagged: boolean;
}

interface ExtendHistory {
  readonly times: number[];
  quietUntil: number;
}

interface ActivityHistory {
  readonly times: number[];
  isFlagged: boolean;
}

function whole(options: AnomalyDetectorOptions, name: keyof Settings, fallback: number, min = 1) {
  const value = options[name] ?? fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new OptionError(name, `expected a whole number >= ${min}, got ${String(value)}`);
  }
  return value;
}

function positive(options: AnomalyDetectorOptions, name: keyof Settings, fallback: number) {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new OptionError(name, `expected a finite number > 0, got ${String(value)}`);
  }
  return value;
}

function sessionOf(record: SessionRecord): AnomalySession {
  return { idHash: record.idHash, subject: record.subject, rule: record.rule };
}

/**
 * The coefficient of variation (population standard deviation / mean) of
 * the gaps between consecutive `times`.
 */
export function gapVariation(times: readonly number[]): number {
  const count = times.length - 1;
  if (count < 1) return Number.NaN;
  let sum = 0;
  for (let i = 1; i <= count; i += 1) sum += (times[i] as number) - (times[i - 1] as number);
  const mean = sum / count;
  if (mean <= 0) return Number.NaN;
  let squares = 0;
  for (let i = 1; i <= count; i += 1) {
    const deviation = (times[i] as number) - (times[i - 1] as number) - mean;
    squares += deviation * deviation;
  }
  return Math.sqrt(squares / count) / mean;
}

/**
 * Watches sessions for what should not happen or looks like abuse, and
 * reports each finding through `onAnomaly` (SPEC section 6):
 *
 * - `replayed_id`: a rotated (retired) id used again flags at once; ids of
 *   ended sessions (expired, revoked) flag when one subject presents more than
 *   `replayThreshold` of them within `replayWindowMs` (the first wave after an
 *   expiry, parallel requests and a few tabs, is normal: the cookie is cleared
 *   with the first rejection). At most once per subject per window.
 * - `past_deadline` (level `error`): an ok verdict whose status shows its own
 *   `now` at or past the earlier deadline. Must never happen; every one is reported.
 * - `extension_storm`: more than `stormMaxExtends` extends of one session
 *   within `stormWindowMs` (sliding); then quiet for that session for one window.
 * - `clock_skew`: {@link checkClockSkew} beyond `clockSkewThresholdMs`; once
 *   on entering the skewed state, again only after it was back within bounds.
 * - `automated_keepalive`: genuine (non-passive) activity of one session whose
 *   last `keepaliveSamples` gaps vary by less than `keepaliveMaxCv`
 *   (coefficient of variation) - a script, not a person. Activity closer than
 *   `keepaliveMinGapMs` to the last counted one is part of the same burst (a
 *   page and its assets) and is not counted. Once per regular run: it re-arms
 *   when the gaps turn irregular.
 *
 * Memory is bounded: each of the three per-key maps (replay per subject,
 * extends per session, activity per session) holds at most `maxTracked`
 * entries, least recently seen forgotten first; an extend history holds at
 * most `stormMaxExtends + 1` times and an activity history
 * `keepaliveSamples + 1`. A session's entries are dropped when it ends.
 *
 * @example
 * import { AnomalyDetector } from './observe/index.js';
 * const detector = new AnomalyDetector({
 *   onAnomaly: (anomaly) => { metrics.recordAnomaly(anomaly.kind); audit.recordAnomaly(anomaly); },
 * });
 * detector.observeAuthority(authority);
 * detector.observeVerdict(await authority.check(id), { passive: false });
 */
export class AnomalyDetector {
  readonly #onAnomaly: (anomaly: Anomaly) => void;
  readonly #onError: (error: unknown) => void;
  readonly #clock: Clock;
  readonly #settings: Settings;
  readonly #replays: BoundedMap<string, ReplayWindow>;
  readonly #extends: BoundedMap<string, ExtendHistory>;
  readonly #activity: BoundedMap<string, ActivityHistory>;
  #isSkewed = false;

  constructor(options: AnomalyDetectorOptions) {
    if (options === null || typeof options !== 'object') {
      throw new OptionError('options', 'pass { onAnomaly }');
    }
    if (typeof options.onAnomaly !== 'function') {
      throw new OptionError('onAnomaly', 'pass a function that receives each anomaly');
    }
    this.#onAnomaly = options.onAnomaly;
    this.#onError =
      options.onError ?? ((error) => console.error('lapse: anomaly listener failed', error));
    this.#clock = options.clock ?? systemClock;
    const keepaliveMaxCv = positive(options, 'keepaliveMaxCv', 0.1);
    if (keepaliveMaxCv >= 1) {
      throw new OptionError('keepaliveMaxCv', `expected a number in (0, 1), got ${keepaliveMaxCv}`);
    }
    this.#settings = Object.freeze({
      maxTracked: whole(options, 'maxTracked', 10_000),
      replayWindowMs: positive(options, 'replayWindowMs', 60_000),
      replayThreshold: whole(options, 'replayThreshold', 10),
      stormMaxExtends: whole(options, 'stormMaxExtends', 10),
      stormWindowMs: positive(options, 'stormWindowMs', 60_000),
      clockSkewThresholdMs: positive(options, 'clockSkewThresholdMs', 2_000),
      keepaliveSamples: whole(options, 'keepaliveSamples', 8, 8),
      keepaliveMaxCv,
      keepaliveMinGapMs: positive(options, 'keepaliveMinGapMs', 1_000),
    });
    const { maxTracked } = this.#settings;
    this.#replays = new BoundedMap(maxTracked, 'maxTracked');
    this.#extends = new BoundedMap(maxTracked, 'maxTracked');
    this.#activity = new BoundedMap(maxTracked, 'maxTracked');
  }

  /** How many subjects and sessions each detector remembers now (each at most `maxTracked`). */
  get tracked(): {
    readonly replaySubjects: number;
    readonly extendSessions: number;
    readonly activitySessions: number;
  } {
    return {
      replaySubjects: this.#replays.size,
      extendSessions: this.#extends.size,
      activitySessions: this.#activity.size,
    };
  }

  /**
   * Listen to an authority's rejections (`replayed_id`) and extends
   * (`extension_storm`), and forget sessions as they end. Returns a function
   * that stops listening.
   */
  observeAuthority(authority: Pick<SessionAuthority, 'on'>): () => void {
    const forget = ({ record }: { readonly record: SessionRecord }) => this.#forget(record.idHash);
    const stops = [
      authority.on('reject', (event) => this.#onReject(event)),
      authority.on('extend', ({ record }) => this.#onExtend(record)),
      authority.on('expire', forget),
      authority.on('revoke', forget),
      authority.on('rotate', ({ retired }) => this.#forget(retired.idHash)),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  }

  /**
   * Inspect the verdict of one check (a request, a WebSocket message, an
   * extend): an ok verdict past its deadline (`past_deadline`), and, unless
   * `passive`, the timing of genuine activity (`automated_keepalive`).
   * Rejections are seen through {@link observeAuthority}, not here.
   */
  observeVerdict(verdict: Verdict, options: { readonly passive: boolean }): void {
    if (!verdict.ok) return;
    this.#checkDeadline(verdict.status, verdict.record);
    if (!options.passive) this.#onActivity(verdict.record);
  }

  /**
   * Compare the store's clock with this instance's. Take `localNow` halfway
   * through the round trip that read `storeNow`. Returns the skew in ms
   * (positive: the store is ahead) and reports `clock_skew` on entering the
   * skewed state.
   */
  checkClockSkew(storeNow: number, localNow: number = this.#clock.now()): number {
    const skewMs = storeNow - localNow;
    const thresholdMs = this.#settings.clockSkewThresholdMs;
    const isSkewed = Math.abs(skewMs) > thresholdMs;
    if (isSkewed && !this.#isSkewed) {
      this.#report({
        kind: 'clock_skew',
        level: 'warn',
        time: this.#clock.now(),
        reason: skewMs > 0 ? 'store_ahead' : 'store_behind',
        detail: { skewMs, thresholdMs },
      });
    }
    this.#isSkewed = isSkewed;
    return skewMs;
  }

  #onReject(event: AuthorityEvents['reject']): void {
    const { record, retired } = event;
    if (record === undefined) return;
    const now = this.#clock.now();
    const { replayWindowMs, replayThreshold } = this.#settings;
    let window = this.#replays.get(record.subject);
    if (
      window === undefined ||
      now - window.startedAt >= replayWindowMs ||
      now < window.startedAt
    ) {
      window = { startedAt: now, count: 0, isFlagged: false };
      this.#replays.set(record.subject, window);
    }
    window.count += 1;
    if (window.isFlagged || (!retired && window.count <= replayThreshold)) return;
    window.isFlagged = true;
    this.#report({
      kind: 'replayed_id',
      level: 'warn',
      time: now,
      reason: retired ? 'rotated' : (record.endReason ?? event.reason),
      session: sessionOf(record),
      detail: { retired, count: window.count, windowMs: replayWindowMs },
    });
  }

  #onExtend(record: SessionRecord): void {
    const now = this.#clock.now();
    const { stormMaxExtends, stormWindowMs } = this.#settings;
    let history = this.#extends.get(record.idHash);
    if (history === undefined) {
      history = { times: [], quietUntil: Number.NEGATIVE_INFINITY };
      this.#extends.set(record.idHash, history);
    }
    history.times.push(now);
    if (history.times.length > stormMaxExtends + 1) history.times.shift();
    const oldest = history.times[0] as number;
    if (history.times.length <= stormMaxExtends || now - oldest >= stormWindowMs) return;
    if (now < history.quietUntil) return;
    history.quietUntil = now + stormWindowMs;
    this.#report({
      kind: 'extension_storm',
      level: 'warn',
      time: now,
      reason: 'rate',
      session: sessionOf(record),
      detail: { extends: history.times.length, withinMs: now - oldest, windowMs: stormWindowMs },
    });
  }

  #checkDeadline(status: SessionStatus, record: SessionRecord): void {
    const { now, absoluteExpiresAt } = status;
    const endsAt = nextDeadline(status);
    if (now < endsAt) return;
    this.#report({
      kind: 'past_deadline',
      level: 'error',
      time: this.#clock.now(),
      reason: now >= absoluteExpiresAt ? 'absolute' : 'idle',
      session: sessionOf(record),
      detail: { statusNow: now, endsAt, overdueMs: now - endsAt },
    });
  }

  #onActivity(record: SessionRecord): void {
    const now = this.#clock.now();
    const { keepaliveSamples, keepaliveMaxCv, keepaliveMinGapMs } = this.#settings;
    let history = this.#activity.get(record.idHash);
    if (history === undefined) {
      history = { times: [], isFlagged: false };
      this.#activity.set(record.idHash, history);
    }
    const { times } = history;
    const last = times[times.length - 1];
    if (last !== undefined) {
      // A clock stepped back makes the old gaps meaningless: start again.
      if (now < last) times.length = 0;
      else if (now - last < keepaliveMinGapMs) return;
    }
    times.push(now);
    if (times.length > keepaliveSamples + 1) times.shift();
    if (times.length < keepaliveSamples + 1) return;
    const cv = gapVariation(times);
    if (!(cv < keepaliveMaxCv)) {
      history.isFlagged = false;
      return;
    }
    if (history.isFlagged) return;
    history.isFlagged = true;
    const meanGapMs =
      ((times[times.length - 1] as number) - (times[0] as number)) / keepaliveSamples;
    this.#report({
      kind: 'automated_keepalive',
      level: 'warn',
      time: now,
      reason: 'regular',
      session: sessionOf(record),
      detail: {
        samples: keepaliveSamples,
        meanGapMs: Math.round(meanGapMs),
        cv: Math.round(cv * 10_000) / 10_000,
      },
    });
  }

  #forget(idHash: string): void {
    this.#extends.delete(idHash);
    this.#activity.delete(idHash);
  }

  #report(anomaly: Anomaly): void {
    try {
      this.#onAnomaly(Object.freeze(anomaly));
    } catch (error) {
      this.#onError(error);
    }
  }
}
