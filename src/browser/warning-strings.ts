/**
 * The words of `<lapse-warning>`: English defaults, the `{placeholders}` they
 * may use, and the formatters behind them. No DOM here (only `Intl`), so the
 * same code formats in the browser and in tests on Node.
 *
 * @example
 * import { defaultWarningStrings, fillWarningString } from 'lapse/browser';
 * fillWarningString(defaultWarningStrings.endMessage, 90, Date.now() + 90_000, 'en-GB');
 * // 'Your session ends at 17:00. Sign in again to continue.'
 */

/**
 * Every text the warning shows or announces. Templates may use:
 * `{time}` the clock time the session ends (e.g. `17:00` or `5:00 PM`, in the
 * page's locale), `{duration}` the time left in words (`1 minute 30 seconds`),
 * `{seconds}` the whole seconds left, `{minutes}` the whole minutes left
 * (rounded down, so `1` at 1:59).
 */
export interface WarningStrings {
  /** The dialog's heading and accessible name. */
  title: string;
  /** The dialog's description while "Stay signed in" can help. */
  message: string;
  /** The description when only signing in again helps: the absolute deadline decides. */
  endMessage: string;
  /** Spoken (polite live region) when the warning opens and at 60, 30 and 10 seconds left. */
  announcement: string;
  /** The button that extends the session. */
  stayLabel: string;
  /** The button that signs out now. */
  signOutLabel: string;
  /** The button that closes the warning when it cannot be extended (the session still ends at `{time}`). */
  dismissLabel: string;
  /** Spoken, and shown, when "Stay signed in" failed. */
  extendFailed: string;
  /** Spoken, and shown, when "Sign out" failed. */
  signOutFailed: string;
}

/**
 * The English defaults. Override some with the element's `strings` property
 * or `data-*` attributes (`data-stay-label` for `stayLabel`, and so on).
 *
 * @example
 * import { defaultWarningStrings } from 'lapse/browser';
 * warning.strings = { ...myTranslations, stayLabel: 'Angemeldet bleiben' };
 * console.log(defaultWarningStrings.stayLabel); // 'Stay signed in'
 */
export const defaultWarningStrings: Readonly<WarningStrings> = Object.freeze({
  title: 'Your session is about to end',
  message: 'For your security, you will be signed out at {time} unless you stay signed in.',
  endMessage: 'Your session ends at {time}. Sign in again to continue.',
  announcement: 'You will be signed out in {duration}.',
  stayLabel: 'Stay signed in',
  signOutLabel: 'Sign out',
  dismissLabel: 'OK',
  extendFailed: 'Could not keep you signed in. Try again.',
  signOutFailed: 'Could not sign you out. Try again.',
});

/**
 * A duration in words for screen readers, in the given locale's own units
 * (`Intl.NumberFormat` unit style): `1 minute 30 seconds`, `2 heures 1 minute`.
 *
 * @example
 * import { formatDuration } from 'lapse/browser';
 * formatDuration(90, 'en'); // '1 minute 30 seconds'
 */
export function formatDuration(seconds: number, locale?: string): string {
  const s = Math.max(0, Math.floor(seconds));
  return new Intl.ListFormat(locale, { type: 'unit', style: 'narrow' }).format(
    (
      [
        [s / 3600, 'hour'],
        [(s / 60) % 60, 'minute'],
        [s % 60, 'second'],
      ] as const
    )
      // Zero parts are left out, except "0 seconds" when there is nothing else.
      .filter(([value, unit]) => value >= 1 || (unit === 'second' && s < 60))
      .map(([value, unit]) =>
        new Intl.NumberFormat(locale, { style: 'unit', unit, unitDisplay: 'long' }).format(
          Math.floor(value),
        ),
      ),
  );
}

/**
 * The visible countdown: `mm:ss`, or `h:mm:ss` from an hour up.
 *
 * @example
 * import { formatCountdown } from 'lapse/browser';
 * formatCountdown(75); // '01:15'
 */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  // `mm:ss` of the time past the hour: 1970-01-01T00:mm:ss.000Z
  return `${hours ? `${hours}:` : ''}${new Date(s * 1000).toISOString().slice(14, 19)}`;
}

/**
 * A clock time (hours and minutes) in the locale's style: `17:00`, `5:00 PM`.
 *
 * @example
 * import { formatClockTime } from 'lapse/browser';
 * formatClockTime(Date.now() + 60_000, 'en-GB'); // e.g. '16:59'
 */
export function formatClockTime(epochMs: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { timeStyle: 'short' }).format(epochMs);
}

/**
 * A template with `{time}`, `{duration}`, `{seconds}` and `{minutes}` filled
 * in; unknown `{names}` are left as they are.
 *
 * @param endsAt when the session ends, epoch ms of THIS device's clock (it is shown as a clock time)
 * @example
 * import { fillWarningString } from 'lapse/browser';
 * fillWarningString('Signed out in {duration}', 90, Date.now() + 90_000, 'en');
 * // 'Signed out in 1 minute 30 seconds'
 */
export function fillWarningString(
  template: string,
  remainingSeconds: number,
  endsAt: number,
  locale?: string,
): string {
  return template.replace(/\{(time|duration|seconds|minutes)\}/g, (_, name: string) =>
    name === 'time'
      ? formatClockTime(endsAt, locale)
      : name === 'duration'
        ? formatDuration(remainingSeconds, locale)
        : Math.floor(remainingSeconds / (name === 'minutes' ? 60 : 1)).toLocaleString(locale),
  );
}
