/** Warnings for what goes wrong off the caller's path (timers, listeners), where no promise can reject. */

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/**
 * A throwing listener must not stop the sweep, the feed or the other
 * listeners: say so as a `LapseWarning` and go on.
 * @param storeName the store's class name, as the warning names it.
 */
export function reportListenerError(storeName: string, error: unknown): void {
  process.emitWarning(`a ${storeName} listener threw: ${describe(error)}`, 'LapseWarning');
}

/**
 * A timer's work failed (the backend is unreachable); the next tick tries
 * again. Warned as `<storeName> <what>: <error>`.
 * @param what what failed, such as `'sweep failed'`.
 */
export function reportBackgroundError(storeName: string, what: string, error: unknown): void {
  process.emitWarning(`${storeName} ${what}: ${describe(error)}`, 'LapseWarning');
}
