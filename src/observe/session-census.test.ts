import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../errors.js';
import type { Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import { hashSessionId } from '../session/session-id.js';
import type { SessionRecord } from '../session/types.js';
import { MemoryStore } from '../store/memory-store.js';
import type { SessionPage, SessionQuery } from '../store/session-store.js';
import { currentDeadlines, SessionCensus } from './session-census.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const START = 1_800_000_000_000;

/** Idle 10 min everywhere; the warning period depends on the role. */
const WARN_BY_ROLE = { none: MINUTE, admin: 5 * MINUTE, auditor: 10 * SECOND } as const;
type Role = keyof typeof WARN_BY_ROLE;

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 10 * MINUTE, absoluteMs: 8 * 60 * MINUTE, warnMs: WARN_BY_ROLE.none },
  ceilings: {},
  rules: [
    { name: 'admins', match: { roles: ['admin'] }, warnMs: WARN_BY_ROLE.admin },
    { name: 'auditors', match: { roles: ['auditor'] }, warnMs: WARN_BY_ROLE.auditor },
    { name: 'staging', match: { environment: ['staging'] }, warnMs: 2 * MINUTE },
  ],
  passive: [],
};

/** A real MemoryStore that counts how often it is listed, and can be made to fail a listing. */
class CountingStore extends MemoryStore {
  readonly lists: SessionQuery[] = [];
  failNextList = false;

  /** Walks started: listings without a cursor. */
  get walks(): number {
    return this.lists.filter((query) => query.cursor === undefined).length;
  }

  override async list(query?: SessionQuery): Promise<SessionPage> {
    this.lists.push(query ?? {});
    if (this.failNextList) {
      this.failNextList = false;
      throw new StoreUnavailableError('the store went away');
    }
    return super.list(query);
  }
}

function setup() {
  const clock = new ManualClock(START);
  const store = new CountingStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: POLICY, store });
  return { clock, store, authority };
}

describe('SessionCensus.count', () => {
  it('counts live and warning sessions across store pages, per-role warnings, nothing ended or overdue', async () => {
    const { clock, store, authority } = setup();
    /** What the test itself knows of each session: the model the census is checked against. */
    const model: { beganAt: number; role: Role; isRevoked: boolean }[] = [];

    // 100 sessions begun long ago: past their idle deadline, never swept.
    clock.set(START - 30 * MINUTE);
    for (let i = 0; i < 100; i += 1) {
      await authority.begin({ subject: `stale-${i}` });
      model.push({ beganAt: clock.now(), role: 'none', isRevoked: false });
    }
    // 1,500 sessions begun 100 ms apart, three roles in turn.
    const ids: string[] = [];
    for (let i = 0; i < 1_500; i += 1) {
      clock.set(START + i * 100);
      const role = (['none', 'admin', 'auditor'] as const)[i % 3] as Role;
      const { id } = await authority.begin({
        subject: `user-${i}`,
        roles: role === 'none' ? [] : [role],
      });
      ids.push(id);
      model.push({ beganAt: clock.now(), role, isRevoked: false });
    }
    // Revoke every 29th; rotate every 101st (the retired id is not a second session).
    clock.set(START + 150 * SECOND);
    for (let i = 0; i < ids.length; i += 29) {
      await authority.revoke(ids[i] as string, 'admin');
      (model[100 + i] as { isRevoked: boolean }).isRevoked = true;
    }
    for (let i = 1; i < ids.length; i += 101) {
      if (i % 29 === 0) continue;
      expect((await authority.rotate(ids[i] as string)).ok).toBe(true);
    }

    const now = START + 10 * MINUTE + 20 * SECOND;
    clock.set(now);
    let active = 0;
    let warning = 0;
    for (const { beganAt, role, isRevoked } of model) {
      const deadline = beganAt + 10 * MINUTE; // never touched since it began
      if (isRevoked || now >= deadline) continue;
      active += 1;
      if (now >= deadline - WARN_BY_ROLE[role]) warning += 1;
    }
    expect(active).toBeGreaterThan(1_000); // more than one page of 1,000
    expect(warning).toBeGreaterThan(0);
    expect(warning).toBeLessThan(active);

    const census = await new SessionCensus(authority, { maxAgeMs: 0 }).count();
    expect(census).toEqual({ now, active, warning });
    expect(store.walks).toBe(1);
    expect(store.lists.length).toBeGreaterThan(1); // the walk followed `next`
    expect(store.lists.every((query) => query.state === 'live')).toBe(true);
    // Counting changed nothing: the overdue sessions are still there, unswept.
    expect((await store.list({ state: 'ended', limit: 1_000 })).records.length).toBeGreaterThan(
      100,
    );
  });

  it('counts a session as warning from exactly its warnAt, and as live until its deadline', async () => {
    const { clock, authority } = setup();
    await authority.begin({ subject: 'auditor', roles: ['auditor'] });
    const census = new SessionCensus(authority, { maxAgeMs: 0 });
    const deadline = START + 10 * MINUTE;
    const warnAt = deadline - WARN_BY_ROLE.auditor;
    clock.set(warnAt - 1);
    expect(await census.count()).toEqual({ now: warnAt - 1, active: 1, warning: 0 });
    clock.set(warnAt);
    expect(await census.count()).toEqual({ now: warnAt, active: 1, warning: 1 });
    clock.set(deadline - 1);
    expect(await census.count()).toEqual({ now: deadline - 1, active: 1, warning: 1 });
    clock.set(deadline);
    expect(await census.count()).toEqual({ now: deadline, active: 0, warning: 0 });
  });

  it('counts in the context it was given', async () => {
    const { clock, authority } = setup();
    await authority.begin({ subject: 'alice' });
    clock.set(START + 10 * MINUTE - 90 * SECOND); // 90 s before the idle deadline
    expect(await new SessionCensus(authority, { maxAgeMs: 0 }).count()).toMatchObject({
      active: 1,
      warning: 0, // warn 1 min
    });
    const staging = new SessionCensus(authority, {
      maxAgeMs: 0,
      context: { environment: 'staging' },
    });
    expect(await staging.count()).toMatchObject({ active: 1, warning: 1 }); // warn 2 min
  });

  it('reuses a count younger than maxAgeMs instead of walking the store again', async () => {
    const { store, authority } = setup();
    await authority.begin({ subject: 'alice' });
    const census = new SessionCensus(authority, { maxAgeMs: 60_000 });
    const first = await census.count();
    await authority.begin({ subject: 'bob' });
    const second = await census.count();
    expect(store.walks).toBe(1);
    expect(second).toBe(first);
    expect(second.active).toBe(1); // bob is not in it yet: it is the cached count
  });

  it('walks again once the last count is older than maxAgeMs', async () => {
    const { store, authority } = setup();
    await authority.begin({ subject: 'alice' });
    const census = new SessionCensus(authority, { maxAgeMs: 20 });
    expect((await census.count()).active).toBe(1);
    await authority.begin({ subject: 'bob' });
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect((await census.count()).active).toBe(2);
    expect(store.walks).toBe(2);
  });

  it('once marked stale, walks again after minIntervalMs instead of maxAgeMs', async () => {
    const { store, authority } = setup();
    await authority.begin({ subject: 'alice' });
    const census = new SessionCensus(authority, { maxAgeMs: 60_000, minIntervalMs: 20 });
    expect((await census.count()).active).toBe(1);
    await authority.begin({ subject: 'bob' });
    census.markStale();
    // Within minIntervalMs the count is reused even though it is stale.
    expect((await census.count()).active).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect((await census.count()).active).toBe(2);
    expect(store.walks).toBe(2);
    // Fresh again: maxAgeMs applies.
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect((await census.count()).active).toBe(2);
    expect(store.walks).toBe(2);
  });

  it('walks the store on every count with maxAgeMs 0', async () => {
    const { store, authority } = setup();
    const census = new SessionCensus(authority, { maxAgeMs: 0 });
    for (let expected = 0; expected < 4; expected += 1) {
      expect((await census.count()).active).toBe(expected);
      await authority.begin({ subject: `user-${expected}` });
    }
    expect(store.walks).toBe(4);
  });

  it('shares one walk among concurrent counts', async () => {
    const { store, authority } = setup();
    for (let i = 0; i < 1_200; i += 1) await authority.begin({ subject: `user-${i}` });
    const census = new SessionCensus(authority, { maxAgeMs: 0 });
    const counts = await Promise.all([census.count(), census.count(), census.count()]);
    expect(store.walks).toBe(1);
    expect(store.lists).toHaveLength(2); // one walk, two pages
    expect(counts[0]?.active).toBe(1_200);
    expect(counts[1]).toBe(counts[0]);
    expect(counts[2]).toBe(counts[0]);
  });

  it('does not keep a failed walk: the next count walks again', async () => {
    const { store, authority } = setup();
    await authority.begin({ subject: 'alice' });
    const census = new SessionCensus(authority, { maxAgeMs: 60_000 });
    store.failNextList = true;
    const failed = await Promise.allSettled([census.count(), census.count()]);
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(failed[0]).toMatchObject({ reason: { code: 'LAPSE_STORE_UNAVAILABLE' } });
    expect(store.walks).toBe(1);
    expect((await census.count()).active).toBe(1);
    expect(store.walks).toBe(2);
  });

  it.each([
    ['negative', -1],
    ['NaN', Number.NaN],
    ['infinite', Number.POSITIVE_INFINITY],
    ['a string', '1000'],
  ])('refuses a maxAgeMs that is %s', (_what, maxAgeMs) => {
    const { authority } = setup();
    expect(() => new SessionCensus(authority, { maxAgeMs: maxAgeMs as number })).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'maxAgeMs' }),
    );
  });
});

describe('currentDeadlines', () => {
  async function recordOf(store: MemoryStore, id: string): Promise<SessionRecord> {
    const record = await store.get(hashSessionId(id));
    if (record === undefined) throw new Error('the store lost the session');
    return record;
  }

  it("is the earliest stored deadline minus the warning period of the session's roles", async () => {
    const { store, authority } = setup();
    const admin = await authority.begin({ subject: 'a', roles: ['admin'] });
    const auditor = await authority.begin({ subject: 'b', roles: ['auditor'] });
    const both = await authority.begin({ subject: 'c', roles: ['auditor', 'admin'] });
    const idleDeadline = START + 10 * MINUTE;
    expect(currentDeadlines(await recordOf(store, admin.id), authority).warnAt).toBe(
      idleDeadline - 5 * MINUTE,
    );
    expect(currentDeadlines(await recordOf(store, auditor.id), authority).warnAt).toBe(
      idleDeadline - 10 * SECOND,
    );
    // Two rules apply: the larger warning wins.
    expect(currentDeadlines(await recordOf(store, both.id), authority).warnAt).toBe(
      idleDeadline - 5 * MINUTE,
    );
    // The same instant the authority tells the session itself.
    expect(currentDeadlines(admin.record, authority).warnAt).toBe(admin.status.warnAt);
  });

  /** A stored record of alice, signed in at START, with these times. */
  const storedRecord = (
    times: Pick<
      SessionRecord,
      'lastActivityAt' | 'idleExpiresAt' | 'absoluteExpiresAt' | 'purgeAt'
    >,
  ): SessionRecord => ({
    idHash: 'x',
    subject: 'alice',
    roles: [],
    userType: 'human',
    attrs: {},
    createdAt: START,
    rule: 'defaults',
    ...times,
  });

  it('uses the absolute deadline when it comes first, or when idle is off', () => {
    const { authority } = setup();
    const record = storedRecord({
      lastActivityAt: START + 10 * MINUTE,
      idleExpiresAt: START + 20 * MINUTE,
      absoluteExpiresAt: START + 15 * MINUTE,
      purgeAt: START + 60 * MINUTE,
    });
    expect(currentDeadlines(record, authority).warnAt).toBe(START + 14 * MINUTE);
    expect(currentDeadlines({ ...record, idleExpiresAt: null }, authority).warnAt).toBe(
      START + 14 * MINUTE,
    );
  });

  it('tightens the stored deadlines by the policy in force now (a stricter reload bites at once)', () => {
    const { authority } = setup();
    // Written under a looser policy: idle 30 min, absolute 24 h.
    const record = storedRecord({
      lastActivityAt: START,
      idleExpiresAt: START + 30 * MINUTE,
      absoluteExpiresAt: START + 24 * 60 * MINUTE,
      purgeAt: START + 48 * 60 * MINUTE,
    });
    // The policy in force: idle 10 min, absolute 8 h.
    expect(currentDeadlines(record, authority)).toEqual({
      idleExpiresAt: START + 10 * MINUTE,
      absoluteExpiresAt: START + 8 * 60 * MINUTE,
      warnAt: START + 10 * MINUTE - WARN_BY_ROLE.none,
    });
  });
});
