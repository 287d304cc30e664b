/** Exit codes of the `lapse` command (SPEC section 7). */
export const ExitCode = {
  /** All is well. */
  OK: 0,
  /** `check`: the policy has errors. `simulate`: the session ended before the trace did. */
  FINDING: 1,
  /** A usage error, or a file that cannot be read or loaded. */
  USAGE: 2,
} as const;

/** One of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
