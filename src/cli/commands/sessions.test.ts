/**
 * `lapse sessions` in-process through runCli, against a real admin server
 * on a real socket (no mocks): the store and the observers share one
 * ManualClock, so the countdowns are exact and nothing sleeps.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AdminServer, createAdminServer } from '../../admin/admin-server.js';
import type { AdminSession } from '../../admin/session-view.js';
import { StoreUnavailableError } from '../../errors.js';
import { createLapse, type Lapse } from '../../http/lapse.js';
import { type Observability, observeLapse } from '../../observe/observability.js';
import { loadPolicy } from '../../policy/load-policy.js';
import { ManualClock } from '../../session/clock.js';
import { hashSessionId } from '../../session/session-id.js';
import { MemoryStore } from '../../store/memory-store.js';
import type { SessionPage, SessionQuery } from '../../store/session-store.js';
import { ExitCode } from '../exit-codes.js';
import type { CliOutput } from '../output.js';
import { runCli } from '../program.js';
import { formatTimeLeft, sessionsCommand, sessionsTable } from './sessions.js';

const TOKEN = 'a-test-token-of-32-characters-xx';
const WRONG_TOKEN = 'not-the-token-but-a-secret-12345';
const START = Date.UTC(2026, 10, 28, 9);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const POLICY = `
version: 1
policy:
  defaults: { idle: 10m, absolute: 8h, warn: 1m }
  rules:
    - name: admins
      match: { roles: [admin] }
      idle: 5m
`;

/** A MemoryStore whose `list` can be made to fail like an unreachable store. */
class SwitchableStore extends MemoryStore {
  isDown = false;

  override async list(query?: SessionQuery): Promise<SessionPage> {
    if (this.isDown) throw new StoreUnavailableError('the store is down (test)');
    return super.list(query);
  }
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function capturing(): { output: CliOutput; stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    output: { out: (text) => out.push(text), err: (text) => err.push(text) },
    stdout: () => out.join('\n'),
    stderr: () => err.join('\n'),
  };
}

/** `lapse <args>` in-process. */
async function lapseCli(...args: string[]): Promise<Run> {
  const { output, stdout, stderr } = capturing();
  const code = await runCli(args, output);
  return { code, stdout: stdout(), stderr: stderr() };
}

let clock: ManualClock;
let store: SwitchableStore;
let lapse: Lapse;
let observability: Observability;
let admin: AdminServer;
let url: string;
/** Session ids by subject, as the app holds them (not the API's ids). */
let ids: { alice: string; bob: string; carol: string; aliceAgain: string };

beforeEach(async () => {
  clock = new ManualClock(START);
  store = new SwitchableStore({ clock, sweepIntervalMs: 0 });
  lapse = createLapse({ policy: loadPolicy(POLICY, 'p.yaml'), store });
  observability = observeLapse(lapse, {
    audit: { destination: { write: () => true } },
    clockSkewIntervalMs: 0,
    clock,
  });
  admin = createAdminServer({
    observability,
    token: TOKEN,
    listen: { host: '127.0.0.1', port: 0 },
  });
  url = await admin.listen();
  const begin = async (subject: string, roles: string[]) =>
    (await lapse.authority.begin({ subject, roles })).id;
  ids = {
    alice: await begin('alice', ['admin']),
    bob: await begin('bob', ['user']),
    carol: await begin('carol', ['user', 'dev']),
    aliceAgain: await begin('alice', ['user']),
  };
  vi.stubEnv('LAPSE_ADMIN_URL', url);
  vi.stubEnv('LAPSE_ADMIN_TOKEN', TOKEN);
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await admin.close();
  await observability.close();
  await store.close();
});

function sessionsOf(run: Run): AdminSession[] {
  return (JSON.parse(run.stdout) as { sessions: AdminSession[] }).sessions;
}

describe('lapse sessions list', () => {
  it('prints an aligned table with countdowns from the answer’s now, and a count line', async () => {
    clock.advance(4 * MINUTE + 55 * SECOND);
    const run = await lapseCli('sessions', 'list', '--subject', 'alice');
    expect(run.code).toBe(ExitCode.OK);
    expect(run.stderr).toBe('');
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+SUBJECT\s+ROLES\s+RULE\s+STATE\s+IDLE LEFT\s+ABSOLUTE LEFT$/);
    const admins = hashSessionId(ids.alice);
    const adminLine = lines.find((line) => line.startsWith(`${admins.slice(0, 12)}…`));
    // The admins rule: idle 5m, so 5s left and inside the 1m warning; absolute 8h - 4m55s.
    expect(adminLine).toMatch(/alice\s+admin\s+admins\s+warning\s+5s\s+7h 55m$/);
    const userLine = lines.find((line) =>
      line.startsWith(`${hashSessionId(ids.aliceAgain).slice(0, 12)}…`),
    );
    expect(userLine).toMatch(/alice\s+user\s+defaults\s+active\s+5m 05s\s+7h 55m$/);
    expect(lines.at(-1)).toBe('2 sessions');
    // Aligned: every row as long as the header's columns make it, the countdowns right-aligned.
    expect(new Set(lines.slice(0, -1).map((line) => line.length)).size).toBe(1);
  });

  it('prints the API’s sessions with --json, and filters by role, rule and state', async () => {
    const all = sessionsOf(await lapseCli('sessions', 'list', '--json'));
    expect(all.map((session) => session.subject).sort()).toEqual([
      'alice',
      'alice',
      'bob',
      'carol',
    ]);
    const json = JSON.parse((await lapseCli('sessions', 'list', '--json')).stdout);
    expect(json).toMatchObject({ now: START, next: null });

    const users = sessionsOf(await lapseCli('sessions', 'list', '--role', 'user', '--json'));
    expect(users.map((session) => session.subject).sort()).toEqual(['alice', 'bob', 'carol']);
    const admins = sessionsOf(await lapseCli('sessions', 'list', '--rule', 'admins', '--json'));
    expect(admins.map((session) => session.id)).toEqual([hashSessionId(ids.alice)]);

    clock.advance(4 * MINUTE + 30 * SECOND); // alice's admin session is now in its warning
    const warning = sessionsOf(await lapseCli('sessions', 'list', '--state', 'warning', '--json'));
    expect(warning.map((session) => session.id)).toEqual([hashSessionId(ids.alice)]);
    clock.advance(MINUTE); // ...and now past its idle deadline
    const ended = sessionsOf(await lapseCli('sessions', 'list', '--state', 'ended', '--json'));
    expect(ended).toMatchObject([
      { id: hashSessionId(ids.alice), state: 'ended', endReason: 'idle' },
    ]);
    const table = await lapseCli('sessions', 'list', '--state', 'ended');
    expect(table.stdout).toMatch(/alice\s+admin\s+admins\s+ended\s+-\s+-\n1 session$/);
  });

  it('shows one page and the next cursor without --all, and follows every page with --all', async () => {
    const first = await lapseCli('sessions', 'list', '--limit', '1', '--json');
    const page = JSON.parse(first.stdout) as { sessions: AdminSession[]; next: string | null };
    expect(page.sessions).toHaveLength(1);
    expect(page.next).toEqual(expect.any(String));

    const text = await lapseCli('sessions', 'list', '--limit', '1');
    expect(text.stdout.split('\n').at(-1)).toBe(
      `1 session on this page; more with --cursor ${page.next} (or --all for every page)`,
    );
    const second = sessionsOf(
      await lapseCli('sessions', 'list', '--limit', '1', '--cursor', page.next as string, '--json'),
    );
    expect(second).toHaveLength(1);
    // A store must resume AFTER the cursor's key (docs/admin-api.md: every session exactly once).
    expect(second[0]?.id, 'the second page repeats the first page’s session').not.toBe(
      page.sessions[0]?.id,
    );

    const every = await lapseCli('sessions', 'list', '--all', '--limit', '1', '--json');
    expect(every.code).toBe(ExitCode.OK);
    const json = JSON.parse(every.stdout) as { sessions: AdminSession[]; next?: unknown };
    expect(json.next).toBeUndefined();
    const expected = Object.values(ids).map(hashSessionId).sort();
    expect(json.sessions.map((session) => session.id).sort()).toEqual(expected);

    const everyText = await lapseCli('sessions', 'list', '--all', '--limit', '1');
    expect(everyText.stdout.split('\n')).toHaveLength(1 + 4 + 1);
    expect(everyText.stdout.split('\n').at(-1)).toBe('4 sessions');
  });

  it('prints only the count when nothing matches', async () => {
    const run = await lapseCli('sessions', 'list', '--subject', 'nobody');
    expect(run).toEqual({ code: ExitCode.OK, stdout: '0 sessions', stderr: '' });
  });

  it('passes the API’s own message through for a query it refuses, with exit 2', async () => {
    const run = await lapseCli('sessions', 'list', '--limit', '501');
    expect(run.code).toBe(ExitCode.USAGE);
    expect(run.stderr).toContain('expected a whole number 1..500');
    expect(run.stdout).toBe('');
    const notANumber = await lapseCli('sessions', 'list', '--limit', 'ten');
    expect(notANumber.code).toBe(ExitCode.USAGE);
    const badState = await lapseCli('sessions', 'list', '--state', 'asleep');
    expect(badState.code).toBe(ExitCode.USAGE);
    expect(badState.stderr).toContain('live, active, warning, ended, any');
  });

  it('says the session store is unreachable on a 503, with exit 1', async () => {
    store.isDown = true;
    const run = await lapseCli('sessions', 'list');
    expect(run.code).toBe(ExitCode.FINDING);
    expect(run.stderr).toContain('the session store is unreachable');
  });

  it('escapes control characters of a subject rather than sending them to the terminal', async () => {
    await lapse.authority.begin({ subject: 'mallory\u001b[2J', roles: [] });
    const run = await lapseCli('sessions', 'list', '--subject', 'mallory\u001b[2J');
    expect(run.stdout).toContain('mallory\\u001b[2J');
    expect(run.stdout).not.toContain('\u001b');
  });
});

describe('lapse sessions revoke', () => {
  it('revokes a session by the API’s id: the authority then rejects it as revoked', async () => {
    const id = hashSessionId(ids.bob);
    const run = await lapseCli('sessions', 'revoke', id);
    expect(run).toEqual({ code: ExitCode.OK, stdout: `revoked ${id}`, stderr: '' });
    const verdict = await lapse.authority.check(ids.bob);
    expect(verdict).toMatchObject({ ok: false, reason: 'revoked' });
    expect((await lapse.authority.check(ids.carol)).ok).toBe(true);

    const again = await lapseCli('sessions', 'revoke', id);
    expect(again).toEqual({
      code: ExitCode.OK,
      stdout: 'already ended (revoked: admin)',
      stderr: '',
    });
  });

  it('prints the API’s answer with --json', async () => {
    const id = hashSessionId(ids.carol);
    const run = await lapseCli('sessions', 'revoke', id, '--json');
    expect(JSON.parse(run.stdout)).toMatchObject({
      outcome: 'revoked',
      session: {
        id,
        subject: 'carol',
        state: 'ended',
        endReason: 'revoked',
        revokeReason: 'admin',
      },
    });
  });

  it('reports an unknown id with exit 1, and hints at the full id when given a shortened one', async () => {
    const unknown = hashSessionId('not a session');
    const run = await lapseCli('sessions', 'revoke', unknown);
    expect(run.code).toBe(ExitCode.FINDING);
    expect(run.stderr).toBe(`no session with id ${unknown}`);
    const json = await lapseCli('sessions', 'revoke', unknown, '--json');
    expect(json.code).toBe(ExitCode.FINDING);
    expect(JSON.parse(json.stdout)).toEqual({ outcome: 'not-found', id: unknown });

    const shortened = `${hashSessionId(ids.bob).slice(0, 12)}…`;
    const short = await lapseCli('sessions', 'revoke', shortened);
    expect(short.code).toBe(ExitCode.FINDING);
    expect(short.stderr).toContain('lapse sessions list --json');
    expect((await lapse.authority.check(ids.bob)).ok).toBe(true);
  });
});

describe('lapse sessions revoke-subject', () => {
  it('revokes every live session of the subject and says how many', async () => {
    const run = await lapseCli('sessions', 'revoke-subject', 'alice');
    expect(run).toEqual({ code: ExitCode.OK, stdout: 'revoked 2 sessions of alice', stderr: '' });
    expect(await lapse.authority.check(ids.alice)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await lapse.authority.check(ids.aliceAgain)).toMatchObject({
      ok: false,
      reason: 'revoked',
    });
    expect((await lapse.authority.check(ids.bob)).ok).toBe(true);
    const json = await lapseCli('sessions', 'revoke-subject', 'alice', '--json');
    expect(JSON.parse(json.stdout)).toEqual({ subject: 'alice', revoked: 0 });
  });

  it('encodes a subject that holds slashes, spaces and non-ASCII', async () => {
    const subject = 'tenant/ünïcode user?x=1#y';
    const { id } = await lapse.authority.begin({ subject, roles: [] });
    const run = await lapseCli('sessions', 'revoke-subject', subject);
    expect(run.stdout).toBe(`revoked 1 session of ${subject}`);
    expect(await lapse.authority.check(id)).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('signs out subjects named . and .., which a URL path cannot carry, through the query form', async () => {
    for (const subject of ['.', '..']) {
      const { id } = await lapse.authority.begin({ subject, roles: [] });
      const run = await lapseCli('sessions', 'revoke-subject', subject);
      expect(run).toEqual({
        code: ExitCode.OK,
        stdout: `revoked 1 session of ${subject}`,
        stderr: '',
      });
      expect(await lapse.authority.check(id)).toMatchObject({ ok: false, reason: 'revoked' });
    }
    expect((await lapse.authority.check(ids.bob)).ok).toBe(true);
  });
});

describe('lapse sessions: reaching the admin API', () => {
  it('reports a refused token with exit 2, and never prints the token', async () => {
    vi.stubEnv('LAPSE_ADMIN_TOKEN', WRONG_TOKEN);
    for (const args of [
      ['list'],
      ['list', '--json'],
      ['revoke', hashSessionId(ids.bob)],
      ['revoke-subject', 'bob'],
    ]) {
      const run = await lapseCli('sessions', ...args);
      expect(run.code).toBe(ExitCode.USAGE);
      expect(run.stderr).toBe(
        'the admin API refused the token (set LAPSE_ADMIN_TOKEN or --token-file)',
      );
      expect(run.stdout).toBe('');
      expect(`${run.stdout}${run.stderr}`).not.toContain(WRONG_TOKEN);
      expect(`${run.stdout}${run.stderr}`).not.toContain(TOKEN);
    }
    expect((await lapse.authority.check(ids.bob)).ok).toBe(true);
  });

  it('says a token is needed when none is set', async () => {
    vi.stubEnv('LAPSE_ADMIN_TOKEN', undefined);
    const run = await lapseCli('sessions', 'list');
    expect(run.code).toBe(ExitCode.USAGE);
    expect(run.stderr).toBe('the admin API needs a token (set LAPSE_ADMIN_TOKEN or --token-file)');
  });

  it('names the URL with exit 2 when nothing listens there', async () => {
    const closed = await closedPortUrl();
    const run = await lapseCli('sessions', 'list', '--url', closed);
    expect(run.code).toBe(ExitCode.USAGE);
    expect(run.stderr).toContain(`cannot reach the admin API at ${closed}`);
    expect(run.stderr).toContain('ECONNREFUSED');
    vi.stubEnv('LAPSE_ADMIN_URL', closed);
    const fromEnv = await lapseCli('sessions', 'revoke-subject', 'alice');
    expect(fromEnv.code).toBe(ExitCode.USAGE);
    expect(fromEnv.stderr).toContain(closed);
  });

  it('reads the token from --token-file (trimmed), over LAPSE_ADMIN_TOKEN', async () => {
    vi.stubEnv('LAPSE_ADMIN_TOKEN', WRONG_TOKEN);
    const dir = await mkdtemp(join(tmpdir(), 'lapse-sessions-'));
    const file = join(dir, 'admin-token');
    await writeFile(file, `  ${TOKEN}\n`);
    const run = await lapseCli('sessions', 'list', '--subject', 'bob', '--token-file', file);
    expect(run.code).toBe(ExitCode.OK);
    expect(run.stdout.split('\n').at(-1)).toBe('1 session');

    const missing = await lapseCli('sessions', 'list', '--token-file', join(dir, 'missing'));
    expect(missing.code).toBe(ExitCode.USAGE);
    expect(missing.stderr).toContain('cannot read file');
    const empty = join(dir, 'empty');
    await writeFile(empty, '\n');
    expect((await lapseCli('sessions', 'list', '--token-file', empty)).code).toBe(ExitCode.USAGE);
  });

  it('refuses a --token flag without echoing its value', async () => {
    for (const args of [['--token', WRONG_TOKEN], [`--token=${WRONG_TOKEN}`]]) {
      const run = await lapseCli('sessions', 'list', ...args);
      expect(run.code).toBe(ExitCode.USAGE);
      expect(run.stderr).toContain('invalid option --token: not accepted');
      expect(`${run.stdout}${run.stderr}`).not.toContain(WRONG_TOKEN);
    }
  });

  it('refuses a --url that is not an http URL, or that holds credentials', async () => {
    const notUrl = await lapseCli('sessions', 'list', '--url', 'localhost:7778');
    expect(notUrl.code).toBe(ExitCode.USAGE);
    expect(notUrl.stderr).toContain('--url');
    const withCredentials = await lapseCli(
      'sessions',
      'list',
      '--url',
      'http://op:secret@127.0.0.1:1',
    );
    expect(withCredentials.code).toBe(ExitCode.USAGE);
    expect(withCredentials.stderr).not.toContain('secret');
  });

  it('reads LAPSE_ADMIN_URL and LAPSE_ADMIN_TOKEN from an injected environment', async () => {
    vi.unstubAllEnvs();
    const { output, stdout } = capturing();
    let exitCode: number | undefined;
    const command = sessionsCommand(
      output,
      (code) => {
        exitCode = code;
      },
      { LAPSE_ADMIN_URL: url, LAPSE_ADMIN_TOKEN: TOKEN },
    ).exitOverride();
    await command.parseAsync(['list', '--subject', 'carol'], { from: 'user' });
    expect(exitCode).toBe(ExitCode.OK);
    expect(stdout()).toMatch(/carol\s+user,dev\s+defaults\s+active/);
  });
});

describe('lapse sessions --help', () => {
  it.each([
    ['list', 'Usage: lapse sessions list [options]'],
    ['revoke', 'Usage: lapse sessions revoke [options] <id>'],
    ['revoke-subject', 'Usage: lapse sessions revoke-subject [options] <subject>'],
  ])('explains %s, and why there is no --token flag', async (name, usage) => {
    const run = await lapseCli('sessions', name, '--help');
    expect(run.code).toBe(ExitCode.OK);
    expect(run.stdout).toContain(usage);
    expect(run.stdout).toContain('--token-file <path>');
    expect(run.stdout).toContain('--url <base>');
    expect(run.stdout).toContain('--json');
    expect(run.stdout).toContain('deliberately no --token flag');
    expect(run.stdout).not.toMatch(/--token <token>/);
  });

  it('lists the subcommands, and treats no subcommand as a usage error', async () => {
    const help = await lapseCli('sessions', '--help');
    expect(help.code).toBe(ExitCode.OK);
    expect(help.stdout).toMatch(
      /list \[options\][\s\S]*revoke \[options\] <id>[\s\S]*revoke-subject/,
    );
    expect((await lapseCli('sessions')).code).toBe(ExitCode.USAGE);
    expect((await lapseCli('sessions', 'frobnicate')).code).toBe(ExitCode.USAGE);
  });
});

describe('formatTimeLeft and sessionsTable', () => {
  it('formats countdowns as 45s, 4m 05s, 1h 02m, 2d 03h, never below 0s', () => {
    expect(formatTimeLeft(45_999)).toBe('45s');
    expect(formatTimeLeft(4 * MINUTE + 5 * SECOND)).toBe('4m 05s');
    expect(formatTimeLeft(62 * MINUTE + 59 * SECOND)).toBe('1h 02m');
    expect(formatTimeLeft(51 * 60 * MINUTE)).toBe('2d 03h');
    expect(formatTimeLeft(-5)).toBe('0s');
  });

  it('shows idle off as off', () => {
    const session = {
      id: 'x'.repeat(43),
      subject: 's',
      roles: [],
      rule: 'services',
      state: 'active',
      idleExpiresAt: null,
      absoluteExpiresAt: START + 90 * SECOND,
    } as unknown as AdminSession;
    expect(sessionsTable([session], START).split('\n')[1]).toMatch(
      /^x{12}…\s+s\s+-\s+services\s+active\s+off\s+1m 30s$/,
    );
  });
});

/** A URL on which nothing listens: a port that was just free. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
