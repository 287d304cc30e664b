/**
 * The one error family of lapse. Every error thrown on purpose by lapse is a
 * {@link LapseError} with a stable string `code` from {@link ErrorCodes};
 * callers and tests branch on the code, never on the message text.
 *
 * @example
 * import { LapseError, ErrorCodes } from 'lapse';
 * try { loadPolicy(text, 'lapse.yaml'); }
 * catch (error) { if (error instanceof LapseError && error.code === ErrorCodes.POLICY_INVALID) { ... } }
 */

/** Every stable error and issue code lapse uses, in one catalog. */
export const ErrorCodes = {
  /** A policy file could not be loaded; see `PolicyLoadError.issues`. */
  POLICY_INVALID: 'LAPSE_POLICY_INVALID',
  /** The file is not well-formed YAML or JSON. */
  POLICY_SYNTAX: 'LAPSE_POLICY_SYNTAX',
  /** The file holds no policy at all. */
  POLICY_EMPTY: 'LAPSE_POLICY_EMPTY',
  /** A key the policy format does not know. */
  POLICY_UNKNOWN_KEY: 'LAPSE_POLICY_UNKNOWN_KEY',
  /** A required key is missing. */
  POLICY_MISSING_KEY: 'LAPSE_POLICY_MISSING_KEY',
  /** A value of the wrong type or shape. */
  POLICY_BAD_VALUE: 'LAPSE_POLICY_BAD_VALUE',
  /** A duration that is not `500ms`, `30s`, `15m`, `8h`, `1d`, a number of seconds, or `off` for idle. */
  POLICY_BAD_DURATION: 'LAPSE_POLICY_BAD_DURATION',
  /** A default or rule value above a limit (explicit or from a `comply` preset). */
  POLICY_ABOVE_LIMIT: 'LAPSE_POLICY_ABOVE_LIMIT',
  /** Two rules share one name. */
  POLICY_DUPLICATE_RULE: 'LAPSE_POLICY_DUPLICATE_RULE',
  /** A rule whose `match` is empty. */
  POLICY_EMPTY_MATCH: 'LAPSE_POLICY_EMPTY_MATCH',
  /** A `comply` preset lapse does not know. */
  POLICY_UNKNOWN_PRESET: 'LAPSE_POLICY_UNKNOWN_PRESET',
  /** A `version` other than 1. */
  POLICY_UNSUPPORTED_VERSION: 'LAPSE_POLICY_UNSUPPORTED_VERSION',
  /**
   * The whole `lapse.yaml` (policy and the gateway sections `store`,
   * `identity`, `gateway`, `admin`) could not be loaded; see
   * `GatewayConfigError.issues`. Issues in the gateway sections reuse the
   * `POLICY_*` issue codes where they fit (unknown key, missing key, bad
   * value, bad duration) and add the `CONFIG_*` ones below.
   */
  CONFIG_INVALID: 'LAPSE_CONFIG_INVALID',
  /** An `env:NAME` value names an environment variable that is not set, or is empty. */
  CONFIG_ENV_MISSING: 'LAPSE_CONFIG_ENV_MISSING',
  /** Settings that exclude each other: two JWT key sources, a setting of another store type or identity mode, two routes or listeners on one address. */
  CONFIG_CONFLICT: 'LAPSE_CONFIG_CONFLICT',
  /** The admin listener is reachable beyond this machine (not loopback) and has no token. */
  CONFIG_ADMIN_UNPROTECTED: 'LAPSE_CONFIG_ADMIN_UNPROTECTED',
  /** A policy or trace file could not be read. */
  FILE_UNREADABLE: 'LAPSE_FILE_UNREADABLE',
  /** A duration string given in code or on the command line is invalid. */
  DURATION_INVALID: 'LAPSE_DURATION_INVALID',
  /** An option passed to a lapse constructor or function is invalid. */
  OPTION_INVALID: 'LAPSE_OPTION_INVALID',
  /** The session store cannot be reached. */
  STORE_UNAVAILABLE: 'LAPSE_STORE_UNAVAILABLE',
  /** A session id is not a well-formed lapse session id. */
  SESSION_ID_MALFORMED: 'LAPSE_SESSION_ID_MALFORMED',
  /** An operation needed a live session, and the session has ended or is unknown. */
  SESSION_REJECTED: 'LAPSE_SESSION_REJECTED',
  /**
   * A request to the admin API failed (refused token, unreachable listener,
   * unknown session, bad query, an answer that is not the API's); see
   * `AdminRequestError.failure`. A 503 carries `LAPSE_STORE_UNAVAILABLE`.
   */
  ADMIN_REQUEST_FAILED: 'LAPSE_ADMIN_REQUEST_FAILED',
  /** A simulation trace is malformed. */
  TRACE_INVALID: 'LAPSE_TRACE_INVALID',
} as const;

/** One of the stable codes in {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error lapse throws on purpose. */
export class LapseError extends Error {
  /** Stable, documented code; see {@link ErrorCodes}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option given to a lapse constructor or function is invalid; `option` names it. */
export class OptionError extends LapseError {
  readonly option: string;

  constructor(option: string, message: string) {
    super(ErrorCodes.OPTION_INVALID, `invalid option ${option}: ${message}`);
    this.option = option;
  }
}

/** A file could not be read (missing, a directory, no permission). */
export class FileUnreadableError extends LapseError {
  readonly file: string;

  constructor(file: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(ErrorCodes.FILE_UNREADABLE, `${file}: cannot read file: ${reason}`, { cause });
    this.file = file;
  }
}

/** The session store could not be reached or failed; enforcement fails closed. */
export class StoreUnavailableError extends LapseError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.STORE_UNAVAILABLE, message, options);
  }
}
