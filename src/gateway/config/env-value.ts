/**
 * `env:NAME` values: a setting that may hold a secret can name an environment
 * variable instead of holding the text. Issues about such a value never quote
 * it: it may be the secret itself.
 */
import type { z } from 'zod';
import { ErrorCodes } from '../../errors.js';
import { addLapseIssue } from '../../policy/policy-schema.js';

/** The environment `env:NAME` values are read from (`process.env` by default). */
export type Env = Readonly<Record<string, string | undefined>>;

/** The prefix of a value read from the environment: `env:LAPSE_ADMIN_TOKEN`. */
export const ENV_PREFIX = 'env:';

/** A portable environment variable name (POSIX: letters, digits, underscore; no leading digit). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The text of a setting, and the variable it came from when it was `env:NAME`. */
export interface EnvText {
  readonly text: string;
  readonly variable?: string;
}

/**
 * The text of a setting that may be `env:NAME`: the string itself, or the
 * value of `env[NAME]`. A problem is an issue on `ctx` (a variable that is
 * not set, or empty, is `LAPSE_CONFIG_ENV_MISSING`) and the result is
 * `undefined`. `expected` says what the setting holds (`an admin token`).
 */
export function readEnvText(
  value: unknown,
  env: Env,
  ctx: z.core.$RefinementCtx,
  expected: string,
): EnvText | undefined {
  if (typeof value !== 'string') {
    addLapseIssue(
      ctx,
      ErrorCodes.POLICY_BAD_VALUE,
      `must be ${expected}, or env:NAME to read it from the environment variable NAME`,
    );
    return undefined;
  }
  if (!value.startsWith(ENV_PREFIX)) return { text: value };
  const variable = value.slice(ENV_PREFIX.length);
  if (!ENV_NAME.test(variable)) {
    addLapseIssue(
      ctx,
      ErrorCodes.POLICY_BAD_VALUE,
      'env: must be followed by an environment variable name such as LAPSE_ADMIN_TOKEN (letters, digits and _)',
    );
    return undefined;
  }
  const text = Object.hasOwn(env, variable) ? env[variable] : undefined;
  if (typeof text !== 'string' || text === '') {
    addLapseIssue(
      ctx,
      ErrorCodes.CONFIG_ENV_MISSING,
      `the environment variable ${variable} ${typeof text === 'string' ? 'is empty' : 'is not set'}: set it to ${expected}`,
    );
    return undefined;
  }
  return { text, variable };
}

/** ` (from env:NAME)` when the text came from the environment, so a message says where to look. */
export function fromWhere({ variable }: EnvText): string {
  return variable === undefined ? '' : ` (from env:${variable})`;
}
