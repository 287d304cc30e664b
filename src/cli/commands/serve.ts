import { Command, Option } from 'commander';
import { FileUnreadableError } from '../../errors.js';
import { GatewayConfigError } from '../../gateway/config/gateway-config-error.js';
import { createGatewayLogger, LOG_LEVELS, type LogLevel } from '../../gateway/gateway-logger.js';
import { serve } from '../../gateway/serve.js';
import { ExitCode } from '../exit-codes.js';
import type { CliOutput } from '../output.js';

/**
 * `lapse serve [--config lapse.yaml]`: run the gateway until SIGINT/SIGTERM.
 * Exit 2 when the config does not load (every issue as file:line:column), or
 * when the address is taken.
 */
export function serveCommand(output: CliOutput, setExit: (code: number) => void): Command {
  return new Command('serve')
    .description(
      'run the gateway: enforce the policy on every request and WebSocket in front of the routes; ' +
        'SIGHUP or a changed file reloads the policy, SIGINT/SIGTERM shut down gracefully',
    )
    .option(
      '-c, --config <file>',
      'the gateway config (policy, store, identity, gateway, admin)',
      'lapse.yaml',
    )
    .addOption(
      new Option('--log-level <level>', 'structured log level (JSON lines on stdout)')
        .choices([...LOG_LEVELS])
        .default(process.env.LAPSE_LOG_LEVEL ?? 'info'),
    )
    .option('--drain <ms>', 'how long a shutdown lets requests in flight finish', '10000')
    .action(async (options: { config: string; logLevel: LogLevel; drain: string }) => {
      const drainMs = Number(options.drain);
      if (!Number.isInteger(drainMs) || drainMs < 0) {
        output.err(
          `--drain must be a whole number of milliseconds, not ${JSON.stringify(options.drain)}`,
        );
        setExit(ExitCode.USAGE);
        return;
      }
      const logger = createGatewayLogger({ level: options.logLevel });
      let serving: Awaited<ReturnType<typeof serve>>;
      try {
        serving = await serve({ configFile: options.config, logger, drainMs });
      } catch (error) {
        if (error instanceof GatewayConfigError) {
          output.err(error.message);
          output.err(
            `${options.config}: ${error.issues.length} error${error.issues.length === 1 ? '' : 's'}; the gateway did not start`,
          );
          setExit(ExitCode.USAGE);
          return;
        }
        if (error instanceof FileUnreadableError) {
          output.err(error.message);
          setExit(ExitCode.USAGE);
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          output.err(`lapse serve: cannot listen: ${(error as Error).message}`);
          setExit(ExitCode.USAGE);
          return;
        }
        throw error;
      }
      await serving.closed;
      setExit(ExitCode.OK);
    });
}
