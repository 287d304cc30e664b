import { Command } from 'commander';
import { FileUnreadableError } from '../../errors.js';
import { formatDuration } from '../../policy/duration.js';
import { loadPolicyFile } from '../../policy/load-policy-file.js';
import { formatPolicyIssue, PolicyLoadError } from '../../policy/policy-load-error.js';
import type { Policy } from '../../policy/types.js';
import { ExitCode } from '../exit-codes.js';
import { type CliOutput, printJson } from '../output.js';

function summary(file: string, policy: Policy): string {
  const { defaults, ceilings } = policy;
  const lines = [
    `${file}: ok`,
    `  defaults: idle ${formatDuration(defaults.idleMs)}, absolute ${formatDuration(defaults.absoluteMs)}, warn ${formatDuration(defaults.warnMs)}`,
    `  rules: ${policy.rules.length === 0 ? 'none' : policy.rules.map((rule) => rule.name).join(', ')}`,
    `  passive entries: ${policy.passive.length}`,
  ];
  if (policy.comply.length > 0) lines.push(`  comply: ${policy.comply.join(', ')}`);
  for (const [setting, ceiling] of Object.entries(ceilings)) {
    if (ceiling !== undefined) {
      const by = ceiling.source === 'limits' ? `limits.${setting}` : ceiling.source;
      const why = ceiling.requirement === undefined ? '' : `: ${ceiling.requirement}`;
      lines.push(`  ${setting} limit: at most ${formatDuration(ceiling.ms)} (${by}${why})`);
    }
  }
  return lines.join('\n');
}

/** `lapse check <file>`: validate a policy file; exit 1 when it has errors. */
export function checkCommand(output: CliOutput, setExit: (code: number) => void): Command {
  return new Command('check')
    .description('validate a policy file; prints file:line:column: message for every error')
    .argument('<file>', 'the policy file (YAML or JSON)')
    .option('--json', 'print machine-readable JSON')
    .action(async (file: string, options: { json?: boolean }) => {
      try {
        const policy = await loadPolicyFile(file);
        if (options.json === true) {
          printJson(output, {
            ok: true,
            file,
            rules: policy.rules.map((rule) => rule.name),
            comply: policy.comply,
          });
        } else {
          output.out(summary(file, policy));
        }
        setExit(ExitCode.OK);
      } catch (error) {
        if (error instanceof PolicyLoadError) {
          if (options.json === true) {
            printJson(output, {
              ok: false,
              file,
              issues: error.issues.map(({ code, message, line, column, path, requirement }) => ({
                code,
                message,
                line,
                column,
                path,
                ...(requirement === undefined ? {} : { requirement }),
              })),
            });
          } else {
            output.out(error.issues.map(formatPolicyIssue).join('\n'));
            output.err(
              `${file}: ${error.issues.length} error${error.issues.length === 1 ? '' : 's'}`,
            );
          }
          setExit(ExitCode.FINDING);
          return;
        }
        if (error instanceof FileUnreadableError) {
          output.err(error.message);
          setExit(ExitCode.USAGE);
          return;
        }
        throw error;
      }
    });
}
