import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clearedSessionCookie, findCookie, sessionCookie } from './cookies.js';

/** The obvious parser, for comparison with the one-scan one. */
function reference(header: string, name: string) {
  const values = header
    .split(';')
    .map(
      (part) =>
        [
          part.slice(0, part.indexOf('=')).trim(),
          part.slice(part.indexOf('=') + 1).trim(),
          part.includes('='),
        ] as const,
    )
    .filter(([key, , hasEq]) => hasEq && key === name)
    .map(([, value]) =>
      value.length >= 2 && value.startsWith('"') && value.endsWith('"')
        ? value.slice(1, -1)
        : value,
    );
  if (values.length === 0) return { kind: 'absent' };
  if (values.length > 1) return { kind: 'duplicate' };
  return { kind: 'present', value: values[0] };
}

describe('findCookie', () => {
  it('finds one cookie among others', () => {
    expect(findCookie('a=1; lapse_sid=abc; b=2', 'lapse_sid')).toEqual({
      kind: 'present',
      value: 'abc',
    });
    expect(findCookie('lapse_sidx=1; xlapse_sid=2', 'lapse_sid')).toEqual({ kind: 'absent' });
    expect(findCookie(undefined, 'lapse_sid')).toEqual({ kind: 'absent' });
  });

  it('reports a name sent twice as duplicate, never picking one', () => {
    expect(findCookie('lapse_sid=a; lapse_sid=b', 'lapse_sid')).toEqual({ kind: 'duplicate' });
    expect(findCookie('lapse_sid=a;lapse_sid=a', 'lapse_sid')).toEqual({ kind: 'duplicate' });
  });

  it('agrees with the obvious split-based parser on any header', () => {
    const piece = fc.constantFrom(
      'lapse_sid',
      'a',
      ' lapse_sid ',
      '=',
      ';',
      ' ',
      '"',
      'x=y',
      'lapse_sid=v',
      '',
    );
    fc.assert(
      fc.property(
        fc.array(fc.oneof(piece, fc.string({ maxLength: 5 })), { maxLength: 12 }),
        (parts) => {
          const header = parts.join('');
          expect(findCookie(header, 'lapse_sid')).toEqual(reference(header, 'lapse_sid'));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('session cookie attributes', () => {
  const options = { name: 'lapse_sid', development: false, path: '/' };

  it('is HttpOnly, SameSite=Lax, Secure and without an expiry of its own', () => {
    expect(sessionCookie('ID', options)).toBe(
      'lapse_sid=ID; Path=/; HttpOnly; SameSite=Lax; Secure',
    );
  });

  it('drops Secure only in development, and clears with Max-Age=0', () => {
    expect(sessionCookie('ID', { ...options, development: true })).not.toContain('Secure');
    expect(clearedSessionCookie(options)).toMatch(
      /^lapse_sid=; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=0/,
    );
  });
});
