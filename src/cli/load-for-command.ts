import { LapseError } from '../errors.js';
import { loadPolicyFile } from '../policy/load-policy-file.js';
import { PolicyLoadError } from '../policy/policy-load-error.js';
import type { Policy } from '../policy/types.js';
import { ExitCode } from './exit-codes.js';
import type { CliOutput } from './output.js';

/**
 * Load a policy for a command other than `check`: any problem is reported on
 * stderr and becomes exit code 2 (SPEC section 7).
 */
export async function loadPolicyForCommand(
  file: string,
  output: CliOutput,
): Promise<Policy | typeof ExitCode.USAGE> {
  try {
    return await loadPolicyFile(file);
  } catch (error) {
    if (error instanceof PolicyLoadError || error instanceof LapseError) {
      output.err(error.message);
      return ExitCode.USAGE;
    }
    throw error;
  }
}
