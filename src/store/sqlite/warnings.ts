/** Warnings for what goes wrong off the caller's path (timers, listeners), where no promise can reject. */

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** A throwing listener must not stop the sweep, the feed or the other listeners. */
export function reportListenerError(error: unknown): void {
  process.emitWarning(`a SqliteStore listener threw: ${describe(error)}`, 'LapseWarning');
}

/** A timer's work failed (the database is unreachable); the next tick tries again. */
export function reportBackgroundError(what: string, error: unknown): void {
  process.emitWarning(`SqliteStore ${what}: ${describe(error)}`, 'LapseWarning');
}
