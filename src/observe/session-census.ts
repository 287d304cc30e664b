import { OptionError } from '../errors.js';
import type { EnforcementContext } from '../policy/types.js';
import type { SessionAuthority } from '../session/authority.js';
import { type Deadlines, deadlinesFor, expiryAt, nextDeadline } from '../session/decide.js';
import type { SessionRecord } from '../session/types.js';

/** Live sessions counted at one instant of the store's clock. */
export interface Census {
  /** The store's clock when the count started. */
  readonly now: number;
  /** Live sessions (those in their warning period included): `lapse_sessions_active`. */
  readonly active: number;
  /** Live sessions now inside their warning period: `lapse_sessions_warning`. */
  readonly warning: number;
}

/** Options of {@link SessionCensus}. */
export interface SessionCensusOptions {
  /**
   * Reuse a count this young instead of walking the store again, ms: a walk
   * reads every live session. Default: 5,000. A count marked stale
   * ({@link SessionCensus.markStale}: a session began or ended here) is
   * reused only for `minIntervalMs`.
   */
  readonly maxAgeMs?: number;
  /** Least time between two walks, however stale the count, ms. Default: 1,000 (at most `maxAgeMs`). */
  readonly minIntervalMs?: number;
  /** The context warning periods are resolved in. Default: none (`{}`). */
  readonly context?: EnforcementContext;
}

const PAGE = 1000;

/** A session's deadlines under the policy in force now, and when its warning starts. */
export interface CurrentDeadlines extends Deadlines {
  readonly warnAt: number;
}

/**
 * A session's deadlines as its next request would meet them: the earlier of
 * those stored at its last write and those the policy in force now gives its
 * roles and user type in `context` (a stricter reload bites at once), and
 * when its warning starts (the earlier deadline minus the warning period).
 */
export function currentDeadlines(
  record: SessionRecord,
  authority: Pick<SessionAuthority, 'policy'>,
  context: EnforcementContext = {},
): CurrentDeadlines {
  const effective = authority.policy.resolve(
    { roles: record.roles, userType: record.userType },
    context,
  );
  const deadlines = deadlinesFor(record, effective);
  return { ...deadlines, warnAt: nextDeadline(deadlines) - effective.warnMs };
}

/**
 * Counts live sessions, and those in their warning period, by walking the
 * store's listing (`SessionStore.list`, 1,000 records a page): what the
 * `lapse_sessions_active` and `lapse_sessions_warning` gauges and the
 * dashboard show. Shared across every instance on the store, since it reads
 * the store. A count is reused for `maxAgeMs` (`minIntervalMs` once marked
 * stale by a session beginning or ending here), and concurrent callers share
 * one walk, so scrapes and dashboards never pile up walks.
 *
 * @example
 * import { SessionCensus } from 'lapse/admin';
 * const census = new SessionCensus(lapse.authority);
 * const { active, warning } = await census.count();
 */
export class SessionCensus {
  readonly #authority: SessionAuthority;
  readonly #maxAgeMs: number;
  readonly #minIntervalMs: number;
  #isStale = false;
  readonly #context: EnforcementContext;
  #last: { readonly census: Census; readonly at: number } | undefined;
  #walking: Promise<Census> | undefined;

  constructor(authority: SessionAuthority, options: SessionCensusOptions = {}) {
    const maxAgeMs = options.maxAgeMs ?? 5_000;
    if (typeof maxAgeMs !== 'number' || !Number.isFinite(maxAgeMs) || maxAgeMs < 0) {
      throw new OptionError('maxAgeMs', `expected a number of ms >= 0, got ${String(maxAgeMs)}`);
    }
    const minIntervalMs = Math.min(options.minIntervalMs ?? 1_000, maxAgeMs);
    if (typeof minIntervalMs !== 'number' || !Number.isFinite(minIntervalMs) || minIntervalMs < 0) {
      throw new OptionError(
        'minIntervalMs',
        `expected a number of ms >= 0, got ${String(options.minIntervalMs)}`,
      );
    }
    this.#minIntervalMs = minIntervalMs;
    this.#authority = authority;
    this.#maxAgeMs = maxAgeMs;
    this.#context = Object.freeze({ ...options.context });
  }

  /**
   * Note that sessions began or ended since the last count: the next count
   * walks the store as soon as `minIntervalMs` allows.
   */
  markStale(): void {
    this.#isStale = true;
  }

  /**
   * The latest count, walking the store when the last one is older than
   * `maxAgeMs` (or than `minIntervalMs` once marked stale).
   */
  count(): Promise<Census> {
    const last = this.#last;
    const reuseMs = this.#isStale ? this.#minIntervalMs : this.#maxAgeMs;
    if (last !== undefined && performance.now() - last.at <= reuseMs) {
      return Promise.resolve(last.census);
    }
    if (this.#walking === undefined) {
      this.#walking = this.#walk().finally(() => {
        this.#walking = undefined;
      });
    }
    return this.#walking;
  }

  async #walk(): Promise<Census> {
    const store = this.#authority.store;
    this.#isStale = false;
    let cursor: string | undefined;
    let now: number | undefined;
    let active = 0;
    let warning = 0;
    do {
      const page = await store.list({
        state: 'live',
        limit: PAGE,
        ...(cursor === undefined ? {} : { cursor }),
      });
      now ??= page.now;
      for (const record of page.records) {
        const current = currentDeadlines(record, this.#authority, this.#context);
        // Ended by a stricter policy than the one it was last written under: not live.
        if (expiryAt(current, page.now) !== undefined) continue;
        active += 1;
        if (page.now >= current.warnAt) warning += 1;
      }
      cursor = page.next ?? undefined;
    } while (cursor !== undefined);
    const census: Census = Object.freeze({ now: now ?? Date.now(), active, warning });
    this.#last = { census, at: performance.now() };
    return census;
  }
}
