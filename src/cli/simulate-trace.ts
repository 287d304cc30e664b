import { CompiledPolicy } from '../policy/compiled-policy.js';
import type { EnforcementContext, Policy, SessionAttributes } from '../policy/types.js';
import { SessionAuthority, type Verdict } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import type { SessionStatus } from '../session/types.js';
import { MemoryStore } from '../store/memory-store.js';
import type { TraceEvent } from './trace.js';

/** What happened to a simulated session, in ms from sign-in. */
export interface SimulationResult {
  /** When a warning was shown (the start of each warning period reached). */
  readonly warnings: number[];
  /** When and why the session ended, or `null` if it outlived the trace. */
  readonly end: { readonly at: number; readonly reason: 'idle' | 'absolute' } | null;
  /** Every step, for the human-readable report. */
  readonly log: SimulationEntry[];
  /** For a session that outlived the trace: when it would end with no more activity. */
  readonly wouldEnd: { readonly at: number; readonly reason: 'idle' | 'absolute' } | null;
}

/** One line of the simulation's story. */
export type SimulationEntry =
  | { readonly kind: 'begin'; readonly at: number; readonly status: SessionStatus }
  | {
      readonly kind: 'warning';
      readonly at: number;
      readonly endsAt: number;
      readonly reason: 'idle' | 'absolute';
    }
  | {
      readonly kind: 'event';
      readonly at: number;
      readonly event: TraceEvent;
      readonly status: SessionStatus;
    }
  | { readonly kind: 'end'; readonly at: number; readonly reason: 'idle' | 'absolute' };

function earliestDeadline(status: SessionStatus): { at: number; reason: 'idle' | 'absolute' } {
  const { idleExpiresAt, absoluteExpiresAt } = status;
  return idleExpiresAt !== null && idleExpiresAt < absoluteExpiresAt
    ? { at: idleExpiresAt, reason: 'idle' }
    : { at: absoluteExpiresAt, reason: 'absolute' };
}

function mustPass(verdict: Verdict): SessionStatus {
  if (!verdict.ok)
    throw new Error(`simulation invariant broken: session rejected (${verdict.reason})`);
  return verdict.status;
}

/**
 * Replay a trace against a policy with the real session authority, a memory
 * store and a manual clock: the same decisions enforcement makes, with time
 * moved by hand. The session signs in at time 0.
 */
export async function simulateTrace(
  policy: Policy,
  trace: readonly TraceEvent[],
  session: SessionAttributes,
  context: EnforcementContext,
): Promise<SimulationResult> {
  const clock = new ManualClock(0);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: new CompiledPolicy(policy), store });
  try {
    const { id, status: initial } = await authority.begin(
      { subject: 'simulated', ...session },
      context,
    );
    const warnings: number[] = [];
    const log: SimulationEntry[] = [{ kind: 'begin', at: 0, status: initial }];
    let warnedFor: number | undefined;
    let status = initial;
    for (const event of trace) {
      const deadline = earliestDeadline(status);
      if (status.policy.warnMs > 0 && status.warnAt <= event.at && warnedFor !== deadline.at) {
        const at = Math.max(status.warnAt, clock.now());
        warnings.push(at);
        log.push({ kind: 'warning', at, endsAt: deadline.at, reason: deadline.reason });
        warnedFor = deadline.at;
      }
      if (event.at >= deadline.at) {
        clock.set(deadline.at);
        const verdict = await authority.status(id, context);
        if (verdict.ok || (verdict.reason !== 'idle' && verdict.reason !== 'absolute')) {
          throw new Error('simulation invariant broken: the session outlived its deadline');
        }
        log.push({ kind: 'end', at: deadline.at, reason: verdict.reason });
        return { warnings, end: { at: deadline.at, reason: verdict.reason }, log, wouldEnd: null };
      }
      clock.set(event.at);
      switch (event.kind) {
        case 'passive':
          status = mustPass(await authority.status(id, context));
          break;
        case 'extend':
          status = mustPass(await authority.extend(id, context));
          break;
        case 'request':
        case 'ws':
          status = mustPass(await authority.check(id, context));
          break;
      }
      log.push({ kind: 'event', at: event.at, event, status });
    }
    return { warnings, end: null, log, wouldEnd: earliestDeadline(status) };
  } finally {
    authority.dispose();
    await store.close();
  }
}
