import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdminToken } from './admin-token.js';

const SECRET = 'q8Zr-3kT_vLw9Xp2Nd7Hs4Bm';
const token = new AdminToken(SECRET);

describe('AdminToken.accepts', () => {
  it.each([
    `Bearer ${SECRET}`,
    `bearer ${SECRET}`,
    `BEARER ${SECRET}`,
    `bEaReR ${SECRET}`,
    `Bearer   ${SECRET}`,
    `Bearer ${SECRET}  `,
  ])('accepts %j', (header) => {
    expect(token.accepts(header)).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['the scheme alone', 'Bearer'],
    ['the scheme and a space', 'Bearer '],
    ['a wrong token of the same length', `Bearer ${'x'.repeat(SECRET.length)}`],
    ['the token less its last character', `Bearer ${SECRET.slice(0, -1)}`],
    ['a prefix of the token', `Bearer ${SECRET.slice(0, 8)}`],
    ['the token plus a character', `Bearer ${SECRET}x`],
    ['the token twice', `Bearer ${SECRET}${SECRET}`],
    ['the token in other case', `Bearer ${SECRET.toUpperCase()}`],
    ['the token with a space inside', `Bearer ${SECRET.slice(0, 5)} ${SECRET.slice(5)}`],
    ['the token under Basic', `Basic ${SECRET}`],
    ['Basic credentials', `Basic ${Buffer.from(`admin:${SECRET}`).toString('base64')}`],
    ['the token without a scheme', SECRET],
    ['the scheme glued to the token', `Bearer${SECRET}`],
    ['a tab instead of a space', `Bearer\t${SECRET}`],
    ['a space before the scheme', ` Bearer ${SECRET}`],
    ['a second credential after it', `Bearer ${SECRET} ${SECRET}`],
    ['a non-ASCII character after the token', `Bearer ${SECRET}é`],
    ['a non-ASCII character in place of one', `Bearer ${SECRET.slice(0, -1)}é`],
    ['a fullwidth look-alike', `Bearer ${SECRET.slice(0, -1)}Ｂ`],
    ['a NUL after the token', `Bearer ${SECRET}\u0000`],
  ])('rejects %s', (_name, header) => {
    expect(token.accepts(header)).toBe(false);
  });

  it('rejects every other token, whatever its characters or length', () => {
    const visible = fc.string({
      unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)),
      minLength: 1,
      maxLength: 64,
    });
    /** The secret with one character changed, dropped or added: the closest misses. */
    const nearMiss = fc
      .tuple(fc.nat({ max: SECRET.length }), visible, fc.constantFrom('replace', 'drop', 'add'))
      .map(([at, text, edit]) => {
        const char = text.slice(0, 1);
        if (edit === 'drop') return SECRET.slice(0, at) + SECRET.slice(at + 1);
        if (edit === 'add') return SECRET.slice(0, at) + char + SECRET.slice(at);
        return SECRET.slice(0, at) + char + SECRET.slice(at + 1);
      });
    fc.assert(
      fc.property(
        fc.oneof(visible, nearMiss, fc.string({ unit: 'grapheme', maxLength: 40 })),
        (presented) => {
          // Spaces around the token are allowed, so only what differs once they are gone counts.
          fc.pre(presented.replace(/^ +| +$/g, '') !== SECRET);
          expect(token.accepts(`Bearer ${presented}`)).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('accepts the token whatever the case of the scheme and the spaces around it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 5 }),
        (upper, before, after) => {
          const scheme = [...'bearer']
            .map((char, index) => (upper[index] === true ? char.toUpperCase() : char))
            .join('');
          const header = `${scheme}${' '.repeat(before)}${SECRET}${' '.repeat(after)}`;
          expect(token.accepts(header)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('new AdminToken', () => {
  it.each([
    ['an empty token', ''],
    ['15 characters', 'a'.repeat(15)],
    ['a space inside', 'abcdefgh ijklmnop'],
    ['a leading space', ' abcdefghijklmnop'],
    ['a trailing newline', 'abcdefghijklmnop\n'],
    ['a tab', 'abcdefgh\tijklmnop'],
    ['a NUL', 'abcdefgh\u0000ijklmnop'],
    ['DEL', 'abcdefgh\u007fijklmnop'],
    ['a non-ASCII character', 'abcdefghijklmnoé'],
  ])('refuses %s, naming the option', (_name, value) => {
    expect(() => new AdminToken(value)).toThrow(
      expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'token' }),
    );
  });

  it('refuses a token that is not a string', () => {
    for (const value of [undefined, null, 1_234_567_890_123_456, ['a'.repeat(16)]]) {
      expect(() => new AdminToken(value as never)).toThrow(
        expect.objectContaining({ code: 'LAPSE_OPTION_INVALID', option: 'token' }),
      );
    }
  });

  it('takes a token of exactly 16 visible characters', () => {
    const shortest = new AdminToken('!'.repeat(8) + '~'.repeat(8));
    expect(shortest.accepts(`Bearer ${'!'.repeat(8)}${'~'.repeat(8)}`)).toBe(true);
  });
});

describe('an AdminToken printed', () => {
  it('never shows the token, as JSON or inspected', () => {
    expect(JSON.stringify(token)).not.toContain(SECRET);
    expect(JSON.stringify({ admin: { token } })).not.toContain(SECRET);
    expect(inspect(token, { showHidden: true, depth: 5 })).not.toContain(SECRET);
    expect(String(token)).not.toContain(SECRET);
  });
});
