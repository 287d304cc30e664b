import { describe, expect, it } from 'vitest';
import {
  defaultWarningStrings,
  fillWarningString,
  formatClockTime,
  formatCountdown,
  formatDuration,
} from './warning-strings.js';

/** 17:00 today on this machine's clock, whatever its time zone. */
const FIVE_PM = new Date(2030, 0, 15, 17, 0, 0).getTime();

describe('formatDuration', () => {
  it('says minutes and seconds in words, singular and plural', () => {
    expect(formatDuration(90, 'en')).toBe('1 minute 30 seconds');
    expect(formatDuration(61, 'en')).toBe('1 minute 1 second');
    expect(formatDuration(120, 'en')).toBe('2 minutes');
    expect(formatDuration(10, 'en')).toBe('10 seconds');
    expect(formatDuration(1, 'en')).toBe('1 second');
  });

  it('says hours for long warnings and leaves out zero parts', () => {
    expect(formatDuration(3600, 'en')).toBe('1 hour');
    expect(formatDuration(3600 + 5, 'en')).toBe('1 hour 5 seconds');
    expect(formatDuration(2 * 3600 + 60 + 30, 'en')).toBe('2 hours 1 minute 30 seconds');
  });

  it('says zero seconds rather than nothing, and never a negative or fractional time', () => {
    expect(formatDuration(0, 'en')).toBe('0 seconds');
    expect(formatDuration(-5, 'en')).toBe('0 seconds');
    expect(formatDuration(59.9, 'en')).toBe('59 seconds');
  });

  it("uses the locale's own unit words", () => {
    expect(formatDuration(90, 'de')).toMatch(/^1\sMinute.*30\sSekunden$/u);
    expect(formatDuration(90, 'fr')).toMatch(/^1\sminute.*30\ssecondes$/u);
  });
});

describe('formatCountdown', () => {
  it('shows mm:ss, padded', () => {
    expect(formatCountdown(75)).toBe('01:15');
    expect(formatCountdown(600)).toBe('10:00');
    expect(formatCountdown(9)).toBe('00:09');
    expect(formatCountdown(0)).toBe('00:00');
  });

  it('shows h:mm:ss from an hour up, and clamps nonsense to zero', () => {
    expect(formatCountdown(3600 + 61)).toBe('1:01:01');
    expect(formatCountdown(-3)).toBe('00:00');
    expect(formatCountdown(59.7)).toBe('00:59');
  });
});

describe('formatClockTime', () => {
  it("shows hours and minutes in the locale's style", () => {
    expect(formatClockTime(FIVE_PM, 'en-GB')).toBe('17:00');
    expect(formatClockTime(FIVE_PM, 'en-US')).toMatch(/^5:00\sPM$/u);
    expect(formatClockTime(FIVE_PM + 59_000, 'de')).toBe('17:00');
  });
});

describe('fillWarningString', () => {
  it('fills {time}, {duration}, {seconds} and {minutes}', () => {
    expect(fillWarningString('{time}|{duration}|{seconds}|{minutes}', 119, FIVE_PM, 'en-GB')).toBe(
      '17:00|1 minute 59 seconds|119|1',
    );
  });

  it('fills a placeholder every time it occurs and leaves unknown ones alone', () => {
    expect(fillWarningString('{seconds} and {seconds}, {name}', 5, FIVE_PM, 'en')).toBe(
      '5 and 5, {name}',
    );
  });

  it("writes numbers with the locale's digits", () => {
    expect(fillWarningString('{seconds}', 1234, FIVE_PM, 'en')).toBe('1,234');
    expect(fillWarningString('{seconds}', 30, FIVE_PM, 'ar-EG')).toBe('٣٠');
  });

  it('makes the honest end-of-session sentence from the English defaults', () => {
    expect(fillWarningString(defaultWarningStrings.endMessage, 90, FIVE_PM, 'en-GB')).toBe(
      'Your session ends at 17:00. Sign in again to continue.',
    );
    expect(fillWarningString(defaultWarningStrings.announcement, 90, FIVE_PM, 'en')).toBe(
      'You will be signed out in 1 minute 30 seconds.',
    );
  });
});

describe('defaultWarningStrings', () => {
  it('is frozen and has a non-empty English text for every key', () => {
    expect(Object.isFrozen(defaultWarningStrings)).toBe(true);
    for (const [key, value] of Object.entries(defaultWarningStrings)) {
      expect(value, key).toMatch(/\S/);
    }
    expect(defaultWarningStrings.stayLabel).toBe('Stay signed in');
    expect(defaultWarningStrings.signOutLabel).toBe('Sign out');
  });
});
