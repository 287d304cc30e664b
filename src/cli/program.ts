import { Command, CommanderError } from 'commander';
import { checkCommand } from './commands/check.js';
import { explainCommand } from './commands/explain.js';
import { schemaCommand } from './commands/schema.js';
import { serveCommand } from './commands/serve.js';
import { sessionsCommand } from './commands/sessions.js';
import { simulateCommand } from './commands/simulate.js';
import { ExitCode } from './exit-codes.js';
import { type CliOutput, processOutput } from './output.js';
import { VERSION } from './version.js';

/**
 * Run the `lapse` command line with `argv` (without `node` and the script) and
 * return the exit code: 0 fine, 1 a finding, 2 a usage error (SPEC section 7).
 */
export async function runCli(
  argv: readonly string[],
  output: CliOutput = processOutput,
): Promise<number> {
  let exitCode: number = ExitCode.OK;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command('lapse')
    .description('lapse: session timeouts from one policy, enforced everywhere')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (text) => output.out(text), writeErr: (text) => output.err(text) })
    .exitOverride();
  for (const make of [
    checkCommand,
    explainCommand,
    simulateCommand,
    schemaCommand,
    serveCommand,
    sessionsCommand,
  ]) {
    program.addCommand(
      make(output, setExit)
        .exitOverride()
        .configureOutput({
          writeOut: (text) => output.out(text),
          writeErr: (text) => output.err(text),
        })
        .showHelpAfterError('(run with --help for usage)'),
    );
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    throw error;
  }
  return exitCode;
}
