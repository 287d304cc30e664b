import { Command } from 'commander';
import { formatDuration } from '../../policy/duration.js';
import { resolvePolicy } from '../../policy/resolve.js';
import type { EffectivePolicy, Policy } from '../../policy/types.js';
import { ExitCode } from '../exit-codes.js';
import { loadPolicyForCommand } from '../load-for-command.js';
import { type CliOutput, printJson } from '../output.js';
import { type SessionOptions, sessionFromOptions, withSessionOptions } from '../session-options.js';

/** The `explain --json` shape (the contract). */
export function explanationJson(effective: EffectivePolicy): object {
  return {
    idle: { ms: effective.idleMs, from: effective.from.idle },
    absolute: { ms: effective.absoluteMs, from: effective.from.absolute },
    warn: { ms: effective.warnMs, from: effective.from.warn, clamped: effective.warnClamped },
  };
}

function explanationText(effective: EffectivePolicy, policy: Policy): string {
  const warnNote = effective.warnClamped
    ? ` (clamped from ${formatDuration(effective.warnRequestedMs)} to half the shortest timeout)`
    : '';
  const lines = [
    `idle      ${formatDuration(effective.idleMs).padEnd(8)} from ${effective.from.idle}`,
    `absolute  ${formatDuration(effective.absoluteMs).padEnd(8)} from ${effective.from.absolute}`,
    `warn      ${formatDuration(effective.warnMs).padEnd(8)} from ${effective.from.warn}${warnNote}`,
    `rules applied: ${effective.matched.length === 0 ? 'none (defaults only)' : effective.matched.join(', ')}`,
  ];
  if (effective.message !== undefined) lines.push(`message: ${effective.message}`);
  for (const [setting, ceiling] of Object.entries(policy.ceilings)) {
    if (ceiling === undefined) continue;
    const by = ceiling.source === 'limits' ? `limits.${setting}` : ceiling.source;
    const why = ceiling.requirement === undefined ? '' : `: ${ceiling.requirement}`;
    lines.push(`${setting} limit: at most ${formatDuration(ceiling.ms)} (${by}${why})`);
  }
  return lines.join('\n');
}

/** `lapse explain <file>`: which timeouts apply to a kind of session, and why. */
export function explainCommand(output: CliOutput, setExit: (code: number) => void): Command {
  return withSessionOptions(
    new Command('explain')
      .description('show the timeouts a session gets in a context, and which rule set each')
      .argument('<file>', 'the policy file (YAML or JSON)'),
  )
    .option('--json', 'print machine-readable JSON')
    .action(async (file: string, options: SessionOptions & { json?: boolean }) => {
      const policy = await loadPolicyForCommand(file, output);
      if (policy === ExitCode.USAGE) {
        setExit(ExitCode.USAGE);
        return;
      }
      const { session, context } = sessionFromOptions(options);
      const effective = resolvePolicy(policy, session, context);
      if (options.json === true) printJson(output, explanationJson(effective));
      else output.out(explanationText(effective, policy));
      setExit(ExitCode.OK);
    });
}
