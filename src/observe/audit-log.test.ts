import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { ReloadResult } from '../gateway/policy-reloader.js';
import type { Policy } from '../policy/types.js';
import { SessionAuthority } from '../session/authority.js';
import { ManualClock } from '../session/clock.js';
import { hashSessionId } from '../session/session-id.js';
import { MemoryStore } from '../store/memory-store.js';
import { AuditLog, type AuditLogOptions } from './audit-log.js';

const START = 1_800_000_000_000;
const SALT = 'a salt of thirty-two bytes......';

const POLICY: Policy = {
  version: 1,
  comply: [],
  defaults: { idleMs: 10_000, absoluteMs: 60_000, warnMs: 2_000 },
  ceilings: {},
  rules: [{ name: 'admins', match: { roles: ['admin'] }, idleMs: 5_000 }],
  passive: [],
};

/** A pino destination that keeps what it is given. */
function memoryDestination() {
  const writes: string[] = [];
  return {
    writes,
    destination: { write: (chunk: string) => void writes.push(chunk) },
    text: () => writes.join(''),
    lines: () =>
      writes
        .join('')
        .split('\n')
        .filter((line) => line.length > 0)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

function setup(options: Partial<AuditLogOptions> = {}) {
  const clock = new ManualClock(START);
  const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
  const authority = new SessionAuthority({ policy: POLICY, store });
  const out = memoryDestination();
  const audit = new AuditLog({ destination: out.destination, clock, ...options });
  const stop = audit.observeAuthority(authority);
  return { clock, authority, audit, out, stop };
}

const FIELDS = ['level', 'seq', 'time', 'event', 'session', 'subject', 'rule', 'reason', 'detail'];

describe('AuditLog', () => {
  it('writes one JSON line per session event, with every field, and never an id or idHash', async () => {
    const { clock, authority, audit, out } = setup({ salt: SALT });
    const alice = await authority.begin({ subject: 'alice', roles: ['admin'] });
    const bob = await authority.begin({ subject: 'bob' });
    const carol = await authority.begin({ subject: 'carol' });
    clock.advance(1_000);
    await authority.extend(bob.id);
    const rotated = await authority.rotate(bob.id);
    if (!rotated.ok) throw new Error('rotation failed');
    await authority.check(bob.id); // the retired id again
    await authority.revoke(carol.id, 'logout');
    await authority.check(carol.id);
    clock.advance(5_000); // alice (admins: 5 s idle) has expired
    await authority.check(alice.id);
    clock.advance(10_000);
    await authority.sweep(); // bob's successor
    await authority.check(undefined); // missing: left out by default
    await authority.check('A'.repeat(43)); // well-formed, never issued

    const lines = out.lines();
    const text = out.text();
    expect(text.endsWith('\n')).toBe(true);
    expect(text.split('\n').filter(Boolean)).toHaveLength(lines.length);
    for (const line of lines) expect(Object.keys(line)).toEqual(FIELDS);
    expect(lines.map((line) => line.seq)).toEqual(lines.map((_, index) => index + 1));
    const ref = (idHash: string) => audit.sessionRef(idHash);
    const aliceRef = ref(alice.record.idHash);
    const bobRef = ref(bob.record.idHash);
    const successorRef = ref(rotated.record.idHash);
    const carolRef = ref(carol.record.idHash);
    const at = (ms: number) => START + ms;
    expect(lines.map(({ level, seq: _seq, ...rest }) => ({ level, ...rest }))).toEqual([
      {
        level: 'info',
        time: at(0),
        event: 'session.begin',
        session: aliceRef,
        subject: 'alice',
        rule: 'admins',
        reason: null,
        detail: { userType: 'human' },
      },
      {
        level: 'info',
        time: at(0),
        event: 'session.begin',
        session: bobRef,
        subject: 'bob',
        rule: 'defaults',
        reason: null,
        detail: { userType: 'human' },
      },
      {
        level: 'info',
        time: at(0),
        event: 'session.begin',
        session: carolRef,
        subject: 'carol',
        rule: 'defaults',
        reason: null,
        detail: { userType: 'human' },
      },
      {
        level: 'info',
        time: at(1_000),
        event: 'session.extend',
        session: bobRef,
        subject: 'bob',
        rule: 'defaults',
        reason: null,
        detail: { idleExpiresAt: at(11_000), absoluteExpiresAt: at(60_000) },
      },
      {
        level: 'info',
        time: at(1_000),
        event: 'session.rotate',
        session: successorRef,
        subject: 'bob',
        rule: 'defaults',
        reason: null,
        detail: { previous: bobRef },
      },
      {
        level: 'info',
        time: at(1_000),
        event: 'session.reject',
        session: bobRef,
        subject: 'bob',
        rule: 'defaults',
        reason: 'revoked',
        detail: { retired: true },
      },
      {
        level: 'info',
        time: at(1_000),
        event: 'session.revoke',
        session: carolRef,
        subject: 'carol',
        rule: 'defaults',
        reason: 'logout',
        detail: {},
      },
      {
        level: 'info',
        time: at(1_000),
        event: 'session.reject',
        session: carolRef,
        subject: 'carol',
        rule: 'defaults',
        reason: 'revoked',
        detail: { retired: false },
      },
      {
        level: 'info',
        time: at(6_000),
        event: 'session.expire',
        session: aliceRef,
        subject: 'alice',
        rule: 'admins',
        reason: 'idle',
        detail: { noticedBy: 'check', endedAt: at(5_000) },
      },
      {
        level: 'info',
        time: at(6_000),
        event: 'session.reject',
        session: aliceRef,
        subject: 'alice',
        rule: 'admins',
        reason: 'idle',
        detail: { retired: false },
      },
      {
        level: 'info',
        time: at(16_000),
        event: 'session.expire',
        session: successorRef,
        subject: 'bob',
        rule: 'defaults',
        reason: 'idle',
        detail: { noticedBy: 'sweep', endedAt: at(11_000) },
      },
      {
        level: 'info',
        time: at(16_000),
        event: 'session.reject',
        session: null,
        subject: null,
        rule: null,
        reason: 'invalid',
        detail: { retired: false },
      },
    ]);
    expect(new Set([aliceRef, bobRef, successorRef, carolRef]).size).toBe(4);
    for (const session of [alice, bob, carol]) {
      expect(text).not.toContain(session.id);
      expect(text).not.toContain(session.record.idHash);
    }
    expect(text).not.toContain(rotated.id);
    expect(text).not.toContain(rotated.record.idHash);
    expect(text).not.toContain(hashSessionId('A'.repeat(43)));
    expect(aliceRef).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('logs rejections with nothing presented only when asked to', async () => {
    const quiet = setup();
    await quiet.authority.check(undefined);
    expect(quiet.out.lines()).toEqual([]);
    const loud = setup({ includeMissing: true });
    await loud.authority.check(undefined);
    expect(loud.out.lines()).toEqual([
      expect.objectContaining({ event: 'session.reject', reason: 'missing', session: null }),
    ]);
  });

  it('writes at most unknownRejectsPerSecond rejections of unknown ids a second, then says how many it left out', async () => {
    const { clock, authority, out } = setup({ unknownRejectsPerSecond: 3 });
    const known = await authority.begin({ subject: 'alice' });
    await authority.revoke(known.id, 'logout');
    for (let i = 0; i < 10; i += 1) await authority.check('A'.repeat(43));
    // Rejections of a known session are never held back.
    for (let i = 0; i < 5; i += 1) await authority.check(known.id);
    let rejects = out.lines().filter((line) => line.event === 'session.reject');
    expect(rejects.filter((line) => line.subject === null)).toHaveLength(3);
    expect(rejects.filter((line) => line.subject === 'alice')).toHaveLength(5);
    clock.advance(1_000);
    await authority.check('not-even-an-id');
    rejects = out.lines().filter((line) => line.event === 'session.reject');
    expect(rejects.at(-1)).toMatchObject({
      reason: 'invalid',
      session: null,
      detail: { retired: false, suppressedBefore: 7 },
    });
  });

  it('hashes with a random salt per log unless one is given, and never to the idHash', () => {
    const destination = { write: () => undefined };
    const idHash = hashSessionId('B'.repeat(43));
    const salted = [
      new AuditLog({ destination, salt: SALT }),
      new AuditLog({ destination, salt: SALT }),
    ];
    const random = [new AuditLog({ destination }), new AuditLog({ destination })];
    expect(salted[0]?.sessionRef(idHash)).toBe(salted[1]?.sessionRef(idHash));
    expect(random[0]?.sessionRef(idHash)).not.toBe(random[1]?.sessionRef(idHash));
    expect(random[0]?.sessionRef(idHash)).not.toBe(salted[0]?.sessionRef(idHash));
    expect(random[0]?.sessionRef(idHash)).toBe(random[0]?.sessionRef(idHash));
    expect(salted[0]?.sessionRef(idHash)).not.toContain(idHash.slice(0, 8));
    expect(
      new AuditLog({ destination, salt: new Uint8Array(16).fill(7) }).sessionRef(idHash),
    ).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('checks its options at construction', () => {
    const destination = { write: () => undefined };
    const invalid = (option: string) =>
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option });
    expect(() => new AuditLog({ destination, salt: 'short' })).toThrow(invalid('salt'));
    expect(() => new AuditLog({ destination, capacity: 0 })).toThrow(invalid('capacity'));
    expect(() => new AuditLog({ destination, unknownRejectsPerSecond: -1 })).toThrow(
      invalid('unknownRejectsPerSecond'),
    );
    expect(() => new AuditLog({ destination, capacity: 1.5 })).toThrow(invalid('capacity'));
    expect(() => new AuditLog({ destination: '' })).toThrow(invalid('destination'));
    expect(
      () => new AuditLog({ destination: {} as unknown as AuditLogOptions['destination'] }),
    ).toThrow(invalid('destination'));
  });

  it('logs policy reloads straight from the reloader result', () => {
    const out = memoryDestination();
    const clock = new ManualClock(START);
    const audit = new AuditLog({ destination: out.destination, clock });
    const rejected = {
      result: 'rejected',
      error: { code: 'LAPSE_CONFIG_INVALID' },
    } as unknown as ReloadResult;
    const onReload: (result: ReloadResult, trigger: 'sighup' | 'file' | 'manual') => void = (
      result,
      trigger,
    ) => audit.recordReload(result, trigger);
    onReload({ result: 'unchanged' }, 'file');
    onReload(rejected, 'sighup');
    expect(out.lines()).toEqual([
      {
        level: 'info',
        seq: 1,
        time: START,
        event: 'policy.reload',
        session: null,
        subject: null,
        rule: null,
        reason: 'unchanged',
        detail: { trigger: 'file', code: null },
      },
      {
        level: 'warn',
        seq: 2,
        time: START,
        event: 'policy.reload',
        session: null,
        subject: null,
        rule: null,
        reason: 'rejected',
        detail: { trigger: 'sighup', code: 'LAPSE_CONFIG_INVALID' },
      },
    ]);
  });

  it('logs an anomaly as anomaly.<kind> at its level, the session salted', () => {
    const out = memoryDestination();
    const audit = new AuditLog({ destination: out.destination, clock: new ManualClock(START) });
    const idHash = hashSessionId('C'.repeat(43));
    audit.recordAnomaly({
      kind: 'past_deadline',
      level: 'error',
      time: START - 5,
      reason: 'idle',
      session: { idHash, subject: 'dave', rule: 'defaults' },
      detail: { overdueMs: 12 },
    });
    audit.recordAnomaly({
      kind: 'clock_skew',
      level: 'warn',
      time: START,
      reason: 'store_ahead',
      detail: { skewMs: 2_500, thresholdMs: 2_000 },
    });
    expect(out.lines()).toEqual([
      {
        level: 'error',
        seq: 1,
        time: START,
        event: 'anomaly.past_deadline',
        session: audit.sessionRef(idHash),
        subject: 'dave',
        rule: 'defaults',
        reason: 'idle',
        detail: { overdueMs: 12, detectedAt: START - 5 },
      },
      {
        level: 'warn',
        seq: 2,
        time: START,
        event: 'anomaly.clock_skew',
        session: null,
        subject: null,
        rule: null,
        reason: 'store_ahead',
        detail: { skewMs: 2_500, thresholdMs: 2_000, detectedAt: START },
      },
    ]);
    expect(out.text()).not.toContain(idHash);
  });

  it('keeps the most recent events in a ring for recent({ limit, after })', async () => {
    const { authority, audit } = setup({ capacity: 5 });
    expect(audit.recent()).toEqual({ events: [], missed: 0, lastSeq: 0 });
    for (let i = 1; i <= 12; i += 1) await authority.begin({ subject: `user${i}` });
    const seqs = (result: { events: { seq: number }[] }) => result.events.map((e) => e.seq);
    expect(seqs(audit.recent())).toEqual([8, 9, 10, 11, 12]);
    expect(audit.recent().events.map((e) => e.subject)).toEqual([
      'user8',
      'user9',
      'user10',
      'user11',
      'user12',
    ]);
    expect(seqs(audit.recent({ limit: 2 }))).toEqual([11, 12]);
    expect(seqs(audit.recent({ limit: 50 }))).toEqual([8, 9, 10, 11, 12]);
    expect(audit.recent({ after: 9 })).toMatchObject({ missed: 0, lastSeq: 12 });
    expect(seqs(audit.recent({ after: 9 }))).toEqual([10, 11, 12]);
    expect(seqs(audit.recent({ after: 9, limit: 2 }))).toEqual([10, 11]);
    expect(seqs(audit.recent({ after: 12 }))).toEqual([]);
    // A poller that fell behind learns how many it missed and resumes at the oldest kept.
    expect(audit.recent({ after: 2, limit: 3 })).toMatchObject({ missed: 5, lastSeq: 12 });
    expect(seqs(audit.recent({ after: 2, limit: 3 }))).toEqual([8, 9, 10]);
    expect(seqs(audit.recent({ limit: 0 }))).toEqual([]);
    expect(() => audit.recent({ limit: -1 })).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID' }),
    );
    expect(() => audit.recent({ after: 1.5 })).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID' }),
    );
  });

  it('tells subscribers of each new event; a throwing subscriber breaks nothing', async () => {
    const onListenerError = vi.fn();
    const { authority, audit, out } = setup({ onListenerError });
    const seen: string[] = [];
    audit.subscribe(() => {
      throw new Error('subscriber bug');
    });
    const stop = audit.subscribe((event) => seen.push(`${event.seq}:${event.event}`));
    const { id } = await authority.begin({ subject: 'alice' });
    await authority.extend(id);
    stop();
    await authority.revoke(id);
    expect(seen).toEqual(['1:session.begin', '2:session.extend']);
    expect(onListenerError).toHaveBeenCalledTimes(3);
    expect(out.lines()).toHaveLength(3);
  });

  it('stops logging once unsubscribed from the authority', async () => {
    const { authority, out, stop } = setup();
    await authority.begin({ subject: 'alice' });
    stop();
    await authority.begin({ subject: 'bob' });
    expect(out.lines()).toHaveLength(1);
  });

  it('appends to a file given by path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lapse-audit-'));
    try {
      const file = join(dir, 'logs', 'audit.log');
      const clock = new ManualClock(START);
      const store = new MemoryStore({ clock, sweepIntervalMs: 0 });
      const authority = new SessionAuthority({ policy: POLICY, store });
      const first = new AuditLog({ destination: file, clock });
      first.observeAuthority(authority);
      const { id, record } = await authority.begin({ subject: 'alice' });
      await authority.revoke(id);
      await first.flush();
      const second = new AuditLog({ destination: file, clock });
      second.recordReload({ result: 'ok' }, 'manual');
      await second.flush();
      const text = await readFile(file, 'utf8');
      const lines = text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((line) => line.event)).toEqual([
        'session.begin',
        'session.revoke',
        'policy.reload',
      ]);
      expect(text).not.toContain(id);
      expect(text).not.toContain(record.idHash);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
