import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import { hashSessionId } from '../session/session-id.js';
import type { SessionRecord } from '../session/types.js';
import { MemoryStore } from '../store/memory-store.js';
import { adminSessionView } from './session-view.js';

const START = 1_800_000_000_000;
const SECOND = 1_000;
const REF = 'ref-of-the-session';

/** idle 10 s, absolute 60 s, warn 2 s; admins idle 5 s warn 3 s; kiosks idle off. */
const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 10 * SECOND, absoluteMs: 60 * SECOND, warnMs: 2 * SECOND },
  ceilings: {},
  rules: [
    { name: 'admins', match: { roles: ['admin'] }, idleMs: 5 * SECOND, warnMs: 2_500 },
    { name: 'kiosks', match: { userType: ['kiosk'] }, idleMs: null },
    { name: 'staging', match: { environment: ['staging'] }, warnMs: 4 * SECOND },
  ],
  passive: [],
};

function setup() {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: POLICY, store });
  /** The record as stored now: nothing decided, nothing swept. */
  const stored = async (id: string): Promise<SessionRecord> => {
    const record = await store.get(hashSessionId(id));
    if (record === undefined) throw new Error('the store lost the session');
    return record;
  };
  const view = (record: SessionRecord, now = clock.now()) =>
    adminSessionView(record, now, authority, REF);
  return { clock, store, authority, stored, view };
}

describe('adminSessionView', () => {
  it('shows a fresh session active, with every field of the record and warnAt from the policy', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice', roles: ['ops'], userType: 'human' });
    clock.advance(SECOND);
    const record = await stored(id);
    expect(view(record)).toEqual({
      id: hashSessionId(id),
      ref: REF,
      subject: 'alice',
      roles: ['ops'],
      userType: 'human',
      rule: 'defaults',
      state: 'active',
      createdAt: START,
      lastActivityAt: START,
      idleExpiresAt: START + 10 * SECOND,
      absoluteExpiresAt: START + 60 * SECOND,
      warnAt: START + 8 * SECOND,
      endedAt: null,
      endReason: null,
      revokeReason: null,
    });
  });

  it('turns to warning at exactly warnAt, not a millisecond before', async () => {
    const { authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice', roles: ['admin'] });
    const record = await stored(id);
    const warnAt = START + 5 * SECOND - 2_500;
    expect(view(record, warnAt - 1)).toMatchObject({ state: 'active', warnAt });
    expect(view(record, warnAt)).toMatchObject({ state: 'warning', warnAt });
    expect(view(record, START + 5 * SECOND - 1)).toMatchObject({
      state: 'warning',
      endReason: null,
      endedAt: null,
    });
  });

  it('shows a session past its idle deadline that nothing has swept as ended idle at that deadline', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    clock.advance(4 * SECOND);
    await authority.check(id); // idle deadline now START + 14 s
    clock.advance(10 * SECOND);
    const record = await stored(id);
    expect(record.endReason).toBeUndefined(); // really not ended in the store
    expect(view(record)).toMatchObject({
      state: 'ended',
      endReason: 'idle',
      endedAt: START + 14 * SECOND,
      revokeReason: null,
    });
    // Half-open: a millisecond before the deadline it was still alive.
    expect(view(record, START + 14 * SECOND - 1)).toMatchObject({ state: 'warning' });
  });

  it('names the deadline that came first when both have passed: idle when idle was earlier', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    clock.advance(5 * 60 * SECOND); // long past idle (10 s) and absolute (60 s)
    expect(view(await stored(id))).toMatchObject({
      state: 'ended',
      endReason: 'idle',
      endedAt: START + 10 * SECOND,
    });
  });

  it('names absolute when the absolute deadline came first, as the decisions do', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    for (let at = 8; at <= 56; at += 8) {
      clock.set(START + at * SECOND);
      await authority.check(id);
    }
    // Last activity at 56 s: idle deadline 66 s, after the absolute one at 60 s.
    const record = await stored(id);
    expect(record.idleExpiresAt).toBe(START + 66 * SECOND);
    expect(view(record, START + 60 * SECOND - 1)).toMatchObject({ state: 'warning' });
    for (const now of [START + 60 * SECOND, START + 70 * SECOND]) {
      expect(view(record, now)).toMatchObject({
        state: 'ended',
        endReason: 'absolute',
        endedAt: START + 60 * SECOND,
      });
    }
    // What a request at that moment actually records agrees.
    clock.set(START + 70 * SECOND);
    const verdict = await authority.check(id);
    expect(verdict).toMatchObject({ ok: false, reason: 'absolute' });
    expect(verdict.ok === false && verdict.record?.endedAt).toBe(START + 60 * SECOND);
  });

  it('names absolute on a tie of both deadlines', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    for (const at of [8, 16, 24, 32, 40, 48, 50]) {
      clock.set(START + at * SECOND);
      expect((await authority.check(id)).ok).toBe(true);
    }
    // Last activity at 50 s: the idle deadline, 60 s, is the absolute one.
    const record = await stored(id);
    expect(record.idleExpiresAt).toBe(record.absoluteExpiresAt);
    expect(view(record, START + 61 * SECOND)).toMatchObject({
      endReason: 'absolute',
      endedAt: START + 60 * SECOND,
    });
  });

  it('with idle off, only the absolute deadline ends it and sets warnAt', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'kiosk-7', userType: 'kiosk' });
    const record = await stored(id);
    expect(record.idleExpiresAt).toBeNull();
    clock.advance(50 * SECOND); // no activity for far longer than any idle timeout
    expect(view(record)).toMatchObject({
      state: 'active',
      idleExpiresAt: null,
      warnAt: START + 58 * SECOND,
      endReason: null,
    });
    expect(view(record, START + 58 * SECOND)).toMatchObject({ state: 'warning' });
    expect(view(record, START + 60 * SECOND)).toMatchObject({
      state: 'ended',
      endReason: 'absolute',
      endedAt: START + 60 * SECOND,
    });
  });

  it('shows a revoked session ended with its revoke reason, whatever its deadlines say later', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    clock.advance(3 * SECOND);
    await authority.revoke(id, 'admin');
    const record = await stored(id);
    const expected = {
      state: 'ended',
      endReason: 'revoked',
      endedAt: START + 3 * SECOND,
      revokeReason: 'admin',
    };
    expect(view(record)).toMatchObject(expected);
    // Past both deadlines, the recorded end stands: revocation is history, not a guess.
    expect(view(record, START + 10 * 60 * SECOND)).toMatchObject(expected);
  });

  it('shows a session a request already ended with the recorded reason and time', async () => {
    const { clock, authority, stored, view } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    clock.advance(30 * SECOND);
    await authority.check(id); // ends it: idle at 10 s
    const record = await stored(id);
    expect(record.endReason).toBe('idle');
    expect(view(record)).toMatchObject({
      state: 'ended',
      endReason: 'idle',
      endedAt: START + 10 * SECOND,
      revokeReason: null,
    });
  });

  it('takes warnAt from the policy in force now and the context given', async () => {
    const { authority, stored } = setup();
    const { id } = await authority.begin({ subject: 'alice' });
    const record = await stored(id);
    const at = (context = {}) => adminSessionView(record, START, authority, REF, context).warnAt;
    expect(at()).toBe(START + 8 * SECOND);
    expect(at({ environment: 'staging' })).toBe(START + 6 * SECOND);
    authority.setPolicy({ ...POLICY, defaults: { ...POLICY.defaults, warnMs: 5 * SECOND } });
    expect(at()).toBe(START + 5 * SECOND);
  });

  it('ends a session exactly when, and how, a request at that moment would', async () => {
    // Random activity, then a look at a random moment: the view must say what a
    // request at that moment decides (state, reason, endedAt).
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 12 * SECOND }), { maxLength: 12 }),
        fc.integer({ min: 0, max: 80 * SECOND }),
        fc.constantFrom<readonly string[]>([], ['admin']),
        async (gaps, lookAfter, roles) => {
          const { clock, authority, stored, view } = setup();
          const { id } = await authority.begin({ subject: 'alice', roles });
          for (const gap of gaps) {
            clock.advance(gap);
            const verdict = await authority.check(id);
            if (!verdict.ok) break;
          }
          clock.advance(lookAfter);
          const shown = view(await stored(id));
          const verdict = await authority.status(id);
          if (verdict.ok) {
            expect(shown.state).toBe(verdict.status.state);
            expect(shown.warnAt).toBe(verdict.status.warnAt);
          } else {
            expect(shown.state).toBe('ended');
            expect(shown.endReason).toBe(verdict.reason);
            expect(shown.endedAt).toBe(verdict.record?.endedAt);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
