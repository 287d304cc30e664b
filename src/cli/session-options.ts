import type { Command } from 'commander';
import type { EnforcementContext, SessionAttributes } from '../policy/types.js';

/** The options shared by commands that resolve a policy for one kind of session. */
export interface SessionOptions {
  readonly roles?: string;
  readonly userType?: string;
  readonly env?: string;
  readonly app?: string;
}

/** Add `--roles`, `--user-type`, `--env` and `--app` to a command. */
export function withSessionOptions(command: Command): Command {
  return command
    .option('--roles <roles>', 'comma-separated roles of the session, e.g. admin,dev')
    .option('--user-type <type>', 'user type of the session', 'human')
    .option('--env <environment>', 'environment of the enforcement context, e.g. production')
    .option('--app <app>', 'app or route name of the enforcement context');
}

/** The session attributes and context the options describe. */
export function sessionFromOptions(options: SessionOptions): {
  session: SessionAttributes;
  context: EnforcementContext;
} {
  const roles = (options.roles ?? '')
    .split(',')
    .map((role) => role.trim())
    .filter((role) => role.length > 0);
  return {
    session: { roles, userType: options.userType ?? 'human' },
    context: {
      ...(options.env === undefined ? {} : { environment: options.env }),
      ...(options.app === undefined ? {} : { app: options.app }),
    },
  };
}
