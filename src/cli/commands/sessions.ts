import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { SESSION_STATES, type SessionStateFilter } from '../../admin/admin-api.js';
import type { AdminSession } from '../../admin/session-view.js';
import { FileUnreadableError, OptionError } from '../../errors.js';
import {
  AdminClient,
  AdminRequestError,
  type AdminRevokeResult,
  type AdminSessionPage,
  DEFAULT_ADMIN_URL,
} from '../admin-client.js';
import { ExitCode } from '../exit-codes.js';
import { type CliOutput, printJson } from '../output.js';

/** Where `lapse sessions` reads `LAPSE_ADMIN_URL` and `LAPSE_ADMIN_TOKEN`. */
export type SessionsEnv = Readonly<Record<string, string | undefined>>;

/** The options every `lapse sessions` subcommand takes. */
interface AdminOptions {
  readonly url?: string;
  readonly tokenFile?: string;
  readonly token?: string;
  readonly json?: boolean;
}

interface ListOptions extends AdminOptions {
  readonly subject?: string;
  readonly role?: string;
  readonly rule?: string;
  readonly state?: SessionStateFilter;
  readonly limit?: string;
  readonly cursor?: string;
  readonly all?: boolean;
}

const TOKEN_HELP = `
The admin token is read from the LAPSE_ADMIN_TOKEN environment variable, or
from the file given with --token-file. There is deliberately no --token flag:
a token on the command line shows in \`ps\` and in shell history.
The admin URL is --url, else LAPSE_ADMIN_URL, else ${DEFAULT_ADMIN_URL}.`;

const SET_TOKEN = '(set LAPSE_ADMIN_TOKEN or --token-file)';

/** Characters a terminal could act on (controls, C1, bidi overrides): shown escaped, never sent raw. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what it strips.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Text from the API (a subject, a rule, a message) made safe to print to a terminal. */
function printable(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A countdown: `45s`, `4m 05s`, `1h 02m`, `2d 03h`. */
export function formatTimeLeft(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${two(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${two(minutes % 60)}m`;
  return `${Math.floor(hours / 24)}d ${two(hours % 24)}h`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

const HEADER = ['ID', 'SUBJECT', 'ROLES', 'RULE', 'STATE', 'IDLE LEFT', 'ABSOLUTE LEFT'];
/** Columns aligned right (the countdowns). */
const RIGHT = new Set([5, 6]);

function row(session: AdminSession, now: number): string[] {
  const isEnded = session.state === 'ended';
  const idleLeft = isEnded
    ? '-'
    : session.idleExpiresAt === null
      ? 'off'
      : formatTimeLeft(session.idleExpiresAt - now);
  return [
    session.id.length > 12 ? `${session.id.slice(0, 12)}…` : session.id,
    printable(session.subject),
    session.roles.length === 0 ? '-' : printable(session.roles.join(',')),
    printable(session.rule),
    session.state,
    idleLeft,
    isEnded ? '-' : formatTimeLeft(session.absoluteExpiresAt - now),
  ];
}

/** The sessions as an aligned table, a header first. */
export function sessionsTable(sessions: readonly AdminSession[], now: number): string {
  const rows = [HEADER, ...sessions.map((session) => row(session, now))];
  const widths = HEADER.map((_, column) =>
    Math.max(...rows.map((cells) => (cells[column] as string).length)),
  );
  return rows
    .map((cells) =>
      cells
        .map((cell, column) =>
          RIGHT.has(column)
            ? cell.padStart(widths[column] as number)
            : cell.padEnd(widths[column] as number),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function nonEmpty(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  return trimmed === undefined || trimmed.length === 0 ? undefined : trimmed;
}

/** The client the options and environment describe: `--url`, else LAPSE_ADMIN_URL; `--token-file`, else LAPSE_ADMIN_TOKEN. */
async function clientFor(options: AdminOptions, env: SessionsEnv): Promise<AdminClient> {
  if (options.token !== undefined) {
    throw new OptionError(
      '--token',
      'not accepted: a token on the command line shows in `ps` and in shell history; set LAPSE_ADMIN_TOKEN or use --token-file',
    );
  }
  const url = options.url ?? nonEmpty(env.LAPSE_ADMIN_URL) ?? DEFAULT_ADMIN_URL;
  let token: string | undefined;
  let source = 'LAPSE_ADMIN_TOKEN';
  if (options.tokenFile !== undefined) {
    source = '--token-file';
    let text: string;
    try {
      text = await readFile(options.tokenFile, 'utf8');
    } catch (error) {
      throw new FileUnreadableError(options.tokenFile, error);
    }
    token = nonEmpty(text);
    if (token === undefined) throw new OptionError('--token-file', `${options.tokenFile} is empty`);
  } else {
    token = nonEmpty(env.LAPSE_ADMIN_TOKEN);
  }
  try {
    return new AdminClient({ url, token });
  } catch (error) {
    if (error instanceof OptionError && error.option === 'token') {
      throw new OptionError(
        source,
        'the token must be visible ASCII characters only (no spaces or line breaks)',
      );
    }
    if (error instanceof OptionError && error.option === 'url') {
      throw new OptionError(
        options.url === undefined ? 'LAPSE_ADMIN_URL' : '--url',
        error.message.replace(/^invalid option url: /, ''),
      );
    }
    throw error;
  }
}

/** Report a failure on stderr and return its exit code; rethrows what is not ours. */
function reportFailure(error: unknown, output: CliOutput, client: AdminClient | undefined): number {
  if (error instanceof AdminRequestError) {
    switch (error.failure) {
      case 'unauthorized':
        output.err(
          client?.hasToken === false
            ? `the admin API needs a token ${SET_TOKEN}`
            : `the admin API refused the token ${SET_TOKEN}`,
        );
        return ExitCode.USAGE;
      case 'unreachable':
        output.err(
          `${error.message}: is the admin listener running there? (set --url or LAPSE_ADMIN_URL)`,
        );
        return ExitCode.USAGE;
      case 'timeout':
        output.err(error.message);
        return ExitCode.USAGE;
      case 'store-unavailable':
        output.err(`the session store is unreachable (the admin API at ${error.url} answered 503)`);
        return ExitCode.FINDING;
      case 'bad-request':
        output.err(printable(error.apiMessage ?? error.message));
        return ExitCode.USAGE;
      case 'forbidden':
        output.err(printable(error.message));
        return ExitCode.USAGE;
      case 'not-found':
        output.err(`${error.message}: is ${error.url} a lapse admin listener?`);
        return ExitCode.USAGE;
      case 'unexpected':
        output.err(printable(error.message));
        return error.status !== undefined && error.status >= 500
          ? ExitCode.FINDING
          : ExitCode.USAGE;
    }
  }
  if (error instanceof OptionError || error instanceof FileUnreadableError) {
    output.err(error.message);
    return ExitCode.USAGE;
  }
  throw error;
}

/** Run a subcommand's work with the client its options describe: its exit code, or the failure's. */
async function running(
  output: CliOutput,
  setExit: (code: number) => void,
  options: AdminOptions,
  env: SessionsEnv,
  work: (client: AdminClient) => Promise<number>,
): Promise<void> {
  let client: AdminClient | undefined;
  try {
    client = await clientFor(options, env);
    setExit(await work(client));
  } catch (error) {
    setExit(reportFailure(error, output, client));
  }
}

function configured(command: Command, output: CliOutput): Command {
  return command
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text), writeErr: (text) => output.err(text) })
    .showHelpAfterError('(run with --help for usage)');
}

/** Add `--url`, `--token-file` and `--json`, and the note on where the token comes from. */
function withAdminOptions(command: Command): Command {
  return command
    .option(
      '--url <base>',
      `admin API base URL (default: $LAPSE_ADMIN_URL, else ${DEFAULT_ADMIN_URL})`,
    )
    .option(
      '--token-file <path>',
      'read the admin token from this file (default: $LAPSE_ADMIN_TOKEN)',
    )
    .addOption(new Option('--token <token>').hideHelp())
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', TOKEN_HELP);
}

function endReasonText(session: AdminSession): string {
  const reason = session.endReason ?? 'unknown';
  return reason === 'revoked' && session.revokeReason !== null
    ? `revoked: ${printable(session.revokeReason)}`
    : reason;
}

function listCommand(
  output: CliOutput,
  setExit: (code: number) => void,
  env: SessionsEnv,
): Command {
  return withAdminOptions(
    configured(new Command('list'), output)
      .description(
        'list the sessions the store holds, with their countdowns (one page unless --all)',
      )
      .option('--subject <subject>', 'only this subject (exact)')
      .option('--role <role>', 'only sessions with this role')
      .option(
        '--rule <name>',
        'only sessions whose timeouts this rule decided (defaults: none did)',
      )
      .addOption(
        new Option('--state <state>', 'live is active or warning')
          .choices([...SESSION_STATES])
          .default('live'),
      )
      .option('--limit <n>', 'sessions per page, 1..500 (default: 50)')
      .option('--cursor <cursor>', 'start at this page (the cursor the page before printed)')
      .option('--all', 'follow every page to the end'),
  ).action((options: ListOptions) =>
    running(output, setExit, options, env, async (client) => {
      let limit: number | undefined;
      if (options.limit !== undefined) {
        if (!/^\d+$/.test(options.limit)) {
          throw new OptionError(
            '--limit',
            `expected a whole number, not ${JSON.stringify(options.limit)}`,
          );
        }
        limit = Number(options.limit);
      }
      const query = {
        subject: options.subject,
        role: options.role,
        rule: options.rule,
        state: options.state,
        limit,
        cursor: options.cursor,
      };
      const page: AdminSessionPage =
        options.all === true
          ? await client.listAllSessions(query)
          : await client.listSessions(query);
      if (options.json === true) {
        printJson(output, options.all === true ? { now: page.now, sessions: page.sessions } : page);
        return ExitCode.OK;
      }
      const count = plural(page.sessions.length, 'session');
      if (page.sessions.length > 0) output.out(sessionsTable(page.sessions, page.now));
      output.out(
        page.next === null
          ? count
          : `${count} on this page; more with --cursor ${page.next} (or --all for every page)`,
      );
      return ExitCode.OK;
    }),
  );
}

function revokeCommand(
  output: CliOutput,
  setExit: (code: number) => void,
  env: SessionsEnv,
): Command {
  return withAdminOptions(
    configured(new Command('revoke'), output)
      .description('revoke one session: its next request gets 401, its WebSockets close')
      .argument(
        '<id>',
        "the session's id as the admin API shows it (43 characters; `list --json` prints it whole)",
      ),
  ).action((id: string, options: AdminOptions) =>
    running(output, setExit, options, env, async (client) => {
      let result: AdminRevokeResult;
      try {
        result = await client.revokeSession(id);
      } catch (error) {
        if (!(error instanceof AdminRequestError && error.failure === 'not-found')) throw error;
        if (options.json === true) {
          printJson(output, { outcome: 'not-found', id });
        } else {
          const hint =
            id.length === 43
              ? ''
              : ' (an id is 43 characters: `lapse sessions list --json` prints it whole)';
          output.err(`no session with id ${printable(id)}${hint}`);
        }
        return ExitCode.FINDING;
      }
      if (options.json === true) printJson(output, result);
      else if (result.outcome === 'revoked') output.out(`revoked ${printable(id)}`);
      else output.out(`already ended (${endReasonText(result.session)})`);
      return ExitCode.OK;
    }),
  );
}

function revokeSubjectCommand(
  output: CliOutput,
  setExit: (code: number) => void,
  env: SessionsEnv,
): Command {
  return withAdminOptions(
    configured(new Command('revoke-subject'), output)
      .description('revoke every live session of a subject (sign out everywhere)')
      .argument('<subject>', 'the subject, exactly as the sessions show it'),
  ).action((subject: string, options: AdminOptions) =>
    running(output, setExit, options, env, async (client) => {
      const revoked = await client.revokeSubject(subject);
      if (options.json === true) printJson(output, { subject, revoked });
      else output.out(`revoked ${plural(revoked, 'session')} of ${printable(subject)}`);
      return ExitCode.OK;
    }),
  );
}

/**
 * `lapse sessions list|revoke|revoke-subject`: the sessions of a running
 * lapse, through its admin API (docs/admin-api.md). Exit 0 fine; 1 an
 * unknown session or an unreachable session store; 2 a usage error, a
 * refused token or an admin API that cannot be reached.
 *
 * @param env where LAPSE_ADMIN_URL and LAPSE_ADMIN_TOKEN are read, when a subcommand runs. Default: `process.env`.
 */
export function sessionsCommand(
  output: CliOutput,
  setExit: (code: number) => void,
  env: SessionsEnv = process.env,
): Command {
  return new Command('sessions')
    .description('list and revoke the sessions of a running lapse, through its admin API')
    .addCommand(listCommand(output, setExit, env))
    .addCommand(revokeCommand(output, setExit, env))
    .addCommand(revokeSubjectCommand(output, setExit, env))
    .addHelpText('after', TOKEN_HELP);
}
