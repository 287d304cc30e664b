import { type DestinationStream, type Logger, pino } from 'pino';

/** The log levels `LAPSE_LOG_LEVEL` and `--log-level` take. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Paths pino replaces with `[redacted]` wherever a log call passes them: the
 * gateway never logs them on purpose, this is the net under that rule.
 */
const REDACT = [
  'headers.cookie',
  'headers.authorization',
  'req.headers.cookie',
  'req.headers.authorization',
  'token',
  'sessionId',
  'secret',
];

/**
 * The gateway's structured logger: one JSON object a line (pino), `name: lapse`.
 * Session ids, tokens and secrets are never passed to it.
 *
 * @example
 * import { createGatewayLogger } from 'lapse/gateway';
 * const logger = createGatewayLogger({ level: 'debug' });
 */
export function createGatewayLogger(
  options: { readonly level?: LogLevel; readonly destination?: DestinationStream } = {},
): Logger {
  const settings = {
    name: 'lapse',
    level: options.level ?? 'info',
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

/** A logger that writes nothing (the default of `createGateway`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
