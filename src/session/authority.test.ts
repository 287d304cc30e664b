import { describe, expect, it, vi } from 'vitest';
import { CompiledPolicy } from '../policy/compiled-policy.js';
import type { Policy } from '../policy/types.js';
import { MemoryStore } from '../store/memory-store.js';
import { SessionAuthority } from './authority.js';
import { ManualClock } from './clock.js';
import type { AuthorityEvents } from './events.js';
import { hashSessionId } from './session-id.js';

const START = 1_800_000_000_000;

function policy(overrides: Partial<Policy> = {}): Policy {
  return {
    version: 1,
    comply: [],
    defaults: { idleMs: 10_000, absoluteMs: 60_000, warnMs: 2_000 },
    ceilings: {},
    rules: [{ name: 'admins', match: { roles: ['admin'] }, idleMs: 5_000 }],
    passive: [],
    ...overrides,
  };
}

function setup(p: Policy = policy()) {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: p, store });
  const events: { [K in keyof AuthorityEvents]: AuthorityEvents[K][] } = {
    begin: [],
    extend: [],
    expire: [],
    revoke: [],
    rotate: [],
    reject: [],
  };
  for (const type of Object.keys(events) as (keyof AuthorityEvents)[]) {
    authority.on(type, (event: AuthorityEvents[typeof type]) => {
      (events[type] as unknown[]).push(event);
    });
  }
  return { clock, store, authority, events };
}

describe('SessionAuthority', () => {
  it('begins a session with a fresh 256-bit id the store knows only by its hash', async () => {
    const { authority, store, events } = setup();
    const { id, record, status } = await authority.begin({ subject: 'u1' });
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    expect(record.idHash).toBe(hashSessionId(id));
    expect(record.idHash).not.toContain(id);
    expect(await store.get(id)).toBeUndefined();
    expect(await store.get(hashSessionId(id))).toMatchObject({
      subject: 'u1',
      userType: 'human',
      roles: [],
    });
    expect(status).toMatchObject({
      state: 'active',
      idleExpiresAt: START + 10_000,
      absoluteExpiresAt: START + 60_000,
    });
    expect(events.begin).toHaveLength(1);
    const second = await authority.begin({ subject: 'u1' });
    expect(second.id).not.toBe(id);
  });

  it('refuses to begin a session without a subject', async () => {
    const { authority } = setup();
    await expect(authority.begin({ subject: '' })).rejects.toMatchObject({
      code: 'LAPSE_OPTION_INVALID',
    });
  });

  it('rejects a missing id as missing, and a malformed or never-issued id as invalid', async () => {
    const { authority, events } = setup();
    expect(await authority.check(undefined)).toMatchObject({ ok: false, reason: 'missing' });
    expect(await authority.check('')).toMatchObject({ ok: false, reason: 'missing' });
    expect(await authority.check('not-an-id')).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await authority.check('x'.repeat(10_000))).toMatchObject({
      ok: false,
      reason: 'invalid',
    });
    // Well-formed but never issued: never adopted (no fixation).
    const forged = 'A'.repeat(43);
    expect(await authority.check(forged)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await authority.check(forged)).toMatchObject({ ok: false, reason: 'invalid' });
    expect(events.reject.map((e) => e.reason)).toEqual([
      'missing',
      'missing',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
    ]);
  });

  it('counts genuine requests as activity and passive ones not', async () => {
    const { authority, clock } = setup();
    const { id } = await authority.begin({ subject: 'u1' });
    clock.advance(6_000);
    expect(await authority.check(id, {}, { passive: true })).toMatchObject({
      ok: true,
      status: { idleExpiresAt: START + 10_000 },
    });
    expect(await authority.check(id)).toMatchObject({
      ok: true,
      status: { idleExpiresAt: START + 16_000 },
    });
    clock.advance(9_000);
    expect(await authority.status(id)).toMatchObject({ ok: true, status: { state: 'warning' } });
    clock.advance(1_000);
    expect(await authority.check(id)).toMatchObject({ ok: false, reason: 'idle' });
  });

  it('emits expire exactly once, whoever notices first', async () => {
    const { authority, clock, events } = setup();
    const { id } = await authority.begin({ subject: 'u1' });
    const other = await authority.begin({ subject: 'u2' });
    clock.advance(10_000);
    expect(await authority.check(id)).toMatchObject({ ok: false, reason: 'idle' });
    expect(await authority.check(id)).toMatchObject({ ok: false, reason: 'idle' });
    expect(await authority.sweep()).toBe(1);
    expect(await authority.sweep()).toBe(0);
    expect(await authority.check(other.id)).toMatchObject({ ok: false, reason: 'idle' });
    expect(events.expire.map((e) => [e.record.subject, e.reason, e.noticedBy])).toEqual([
      ['u1', 'idle', 'check'],
      ['u2', 'idle', 'sweep'],
    ]);
  });

  it('lets "stay signed in" extend the idle deadline but never past the absolute one', async () => {
    const { authority, clock, events } = setup();
    const { id } = await authority.begin({ subject: 'u1' });
    for (let i = 0; i < 6; i += 1) {
      clock.advance(9_000);
      expect((await authority.extend(id)).ok).toBe(true);
    }
    expect(events.extend).toHaveLength(6);
    clock.advance(6_000);
    expect(await authority.extend(id)).toMatchObject({ ok: false, reason: 'absolute' });
    expect(events.extend).toHaveLength(6);
  });

  it('revokes one session, and every session of a subject', async () => {
    const { authority, events } = setup();
    const a = await authority.begin({ subject: 'u1' });
    const b = await authority.begin({ subject: 'u1' });
    const c = await authority.begin({ subject: 'u2' });
    expect(await authority.revoke(a.id)).toMatchObject({ outcome: 'revoked' });
    expect(await authority.revoke(a.id)).toMatchObject({
      outcome: 'already-ended',
      reason: 'revoked',
    });
    expect(await authority.check(a.id)).toMatchObject({
      ok: false,
      reason: 'revoked',
      retired: false,
    });
    expect(await authority.revokeSubject('u1')).toBe(1);
    expect(await authority.check(b.id)).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await authority.check(c.id)).ok).toBe(true);
    expect(events.revoke.map((e) => e.reason)).toEqual(['logout', 'subject']);
    expect(await authority.revoke('bogus')).toEqual({ outcome: 'unknown' });
  });

  it('keeps the original reason when revoking a session that already expired', async () => {
    const { authority, clock, events } = setup();
    const { id } = await authority.begin({ subject: 'u1' });
    clock.advance(10_000);
    expect(await authority.revoke(id)).toMatchObject({ outcome: 'already-ended', reason: 'idle' });
    expect(await authority.check(id)).toMatchObject({ ok: false, reason: 'idle' });
    expect(events.expire).toHaveLength(1);
    expect(events.revoke).toHaveLength(0);
  });

  it('rotates to a new id with the same deadlines and rejects the retired one as revoked', async () => {
    const { authority, clock, events } = setup();
    const { id, record } = await authority.begin({ subject: 'u1' });
    clock.advance(3_000);
    const rotated = await authority.rotate(id, { roles: ['admin'] });
    if (!rotated.ok) throw new Error('rotation failed');
    expect(rotated.id).not.toBe(id);
    expect(rotated.record).toMatchObject({
      createdAt: record.createdAt,
      absoluteExpiresAt: record.absoluteExpiresAt,
      roles: ['admin'],
    });
    expect(await authority.check(id)).toMatchObject({
      ok: false,
      reason: 'revoked',
      retired: true,
    });
    expect(events.reject.at(-1)).toMatchObject({ reason: 'revoked', retired: true });
    // The new roles' stricter idle (5s) applies at once.
    expect(await authority.check(rotated.id)).toMatchObject({
      ok: true,
      status: { idleExpiresAt: START + 8_000 },
    });
    expect(await authority.rotate(id)).toMatchObject({
      ok: false,
      reason: 'revoked',
      retired: true,
    });
    expect(events.rotate).toHaveLength(1);
  });

  it('applies a stricter policy to live sessions at their next check', async () => {
    const { authority, clock } = setup();
    const { id } = await authority.begin({ subject: 'u1' });
    clock.advance(4_000);
    authority.setPolicy(
      new CompiledPolicy(policy({ defaults: { idleMs: 3_000, absoluteMs: 60_000, warnMs: 0 } })),
    );
    expect(await authority.check(id)).toMatchObject({ ok: false, reason: 'idle' });
  });

  it('resolves the policy in the context of each request', async () => {
    const p = policy({
      rules: [{ name: 'prod', match: { environment: ['production'] }, idleMs: 2_000 }],
    });
    const { authority, clock } = setup(p);
    const { id } = await authority.begin({ subject: 'u1' }, { environment: 'staging' });
    clock.advance(2_500);
    expect((await authority.check(id, { environment: 'staging' })).ok).toBe(true);
    clock.advance(2_500);
    expect(await authority.check(id, { environment: 'production' })).toMatchObject({
      ok: false,
      reason: 'idle',
    });
  });

  it('keeps enforcing when an event listener throws', async () => {
    const onListenerError = vi.fn();
    const clock = new ManualClock(START);
    const authority = new SessionAuthority({
      policy: policy(),
      store: new MemoryStore({ clock, sweepIntervalMs: 0 }),
      onListenerError,
    });
    authority.on('begin', () => {
      throw new Error('audit sink down');
    });
    const { id } = await authority.begin({ subject: 'u1' });
    expect((await authority.check(id)).ok).toBe(true);
    expect(onListenerError).toHaveBeenCalledOnce();
  });

  it('checks its options at construction', () => {
    expect(() => new SessionAuthority({ policy: policy(), store: undefined as never })).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'store' }),
    );
    expect(
      () =>
        new SessionAuthority({
          policy: undefined as never,
          store: new MemoryStore({ sweepIntervalMs: 0 }),
        }),
    ).toThrow(expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'policy' }));
  });
});
