import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { FileUnreadableError } from '../../errors.js';
import { formatDuration } from '../../policy/duration.js';
import { ExitCode } from '../exit-codes.js';
import { loadPolicyForCommand } from '../load-for-command.js';
import { type CliOutput, printJson } from '../output.js';
import { type SessionOptions, sessionFromOptions, withSessionOptions } from '../session-options.js';
import { type SimulationResult, simulateTrace } from '../simulate-trace.js';
import { parseTrace, TraceError } from '../trace.js';

function at(ms: number): string {
  return formatDuration(ms).padStart(8);
}

function report(result: SimulationResult): string {
  const lines: string[] = [];
  for (const entry of result.log) {
    switch (entry.kind) {
      case 'begin': {
        const { policy } = entry.status;
        lines.push(
          `${at(0)}  signed in: idle ${formatDuration(policy.idleMs)}, absolute ${formatDuration(policy.absoluteMs)}, warn ${formatDuration(policy.warnMs)} (rules: ${policy.matched.join(', ') || 'defaults only'})`,
        );
        break;
      }
      case 'warning':
        lines.push(
          `${at(entry.at)}  WARNING: the session ends at ${formatDuration(entry.endsAt)} (${entry.reason}) unless there is activity`,
        );
        break;
      case 'event': {
        const { kind } = entry.event;
        const note =
          kind === 'passive'
            ? 'passive: checked, not activity'
            : `${kind}: activity; idle ends at ${formatDuration(entry.status.idleExpiresAt)}`;
        lines.push(`${at(entry.at)}  ${note}`);
        break;
      }
      case 'end':
        lines.push(`${at(entry.at)}  ENDED: ${entry.reason} timeout`);
        break;
    }
  }
  if (result.end !== null) {
    lines.push(
      `the session ended at ${formatDuration(result.end.at)} (${result.end.reason}) before the trace did`,
    );
  } else if (result.wouldEnd !== null) {
    lines.push(
      `the session outlived the trace; with no more activity it ends at ${formatDuration(result.wouldEnd.at)} (${result.wouldEnd.reason})`,
    );
  }
  return lines.join('\n');
}

/** `lapse simulate <file> --trace <trace.jsonl>`: when would this session warn and end? */
export function simulateCommand(output: CliOutput, setExit: (code: number) => void): Command {
  return withSessionOptions(
    new Command('simulate')
      .description(
        'replay an activity trace against the policy: when the session warns and ends, and why',
      )
      .argument('<file>', 'the policy file (YAML or JSON)')
      .requiredOption(
        '--trace <trace.jsonl>',
        'JSON Lines trace: {"at":"4m","kind":"request"|"passive"|"extend"|"ws"} a line',
      ),
  )
    .option('--json', 'print machine-readable JSON')
    .action(async (file: string, options: SessionOptions & { trace: string; json?: boolean }) => {
      const policy = await loadPolicyForCommand(file, output);
      if (policy === ExitCode.USAGE) {
        setExit(ExitCode.USAGE);
        return;
      }
      let text: string;
      try {
        text = await readFile(options.trace, 'utf8');
      } catch (error) {
        output.err(new FileUnreadableError(options.trace, error).message);
        setExit(ExitCode.USAGE);
        return;
      }
      let trace: ReturnType<typeof parseTrace>;
      try {
        trace = parseTrace(text, options.trace);
      } catch (error) {
        if (error instanceof TraceError) {
          output.err(error.message);
          setExit(ExitCode.USAGE);
          return;
        }
        throw error;
      }
      const { session, context } = sessionFromOptions(options);
      const result = await simulateTrace(policy, trace, session, context);
      if (options.json === true) printJson(output, { warnings: result.warnings, end: result.end });
      else output.out(report(result));
      setExit(result.end === null ? ExitCode.OK : ExitCode.FINDING);
    });
}
