import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatIdentityHeader,
  IdentityHeaderError,
  isEndHeader,
  parseIdentityHeader,
} from './identity-header.js';

/** The error `parseIdentityHeader(value)` throws; fails the test when it throws none or another kind. */
function parseError(value: string): IdentityHeaderError {
  try {
    parseIdentityHeader(value);
  } catch (error) {
    if (error instanceof IdentityHeaderError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

describe('parseIdentityHeader: the SPEC examples', () => {
  it('reads the Lapse-Begin example of the SPEC', () => {
    expect(
      parseIdentityHeader('subject="u1", roles=("admin" "dev"), userType=human'),
    ).toStrictEqual({ subject: 'u1', roles: ['admin', 'dev'], userType: 'human' });
  });

  it('reads a header with only a subject as a session with no roles and no userType', () => {
    const identity = parseIdentityHeader('subject="u1"');
    expect(identity).toStrictEqual({ subject: 'u1', roles: [] });
    expect('userType' in identity).toBe(false);
  });

  it('reads the members in any order', () => {
    expect(parseIdentityHeader('userType=service, roles=("ops"), subject="svc-7"')).toStrictEqual({
      subject: 'svc-7',
      roles: ['ops'],
      userType: 'service',
    });
  });

  it('ignores members it does not know, whatever their type', () => {
    expect(
      parseIdentityHeader('v=1, subject="u1", extra=?1, list=(1 2 "x"), flag, roles=("a")'),
    ).toStrictEqual({ subject: 'u1', roles: ['a'] });
  });

  it('keeps the last of two members with the same key, as RFC 8941 says', () => {
    expect(parseIdentityHeader('subject="first", subject="second"').subject).toBe('second');
  });

  it('reads keys case-sensitively: UserType is not userType', () => {
    const identity = parseIdentityHeader('subject="u1", UserType=robot');
    expect(identity).toStrictEqual({ subject: 'u1', roles: [] });
  });
});

describe('parseIdentityHeader: strings and tokens', () => {
  it('reads a subject given as a token like one given as a string', () => {
    expect(parseIdentityHeader('subject=u1').subject).toBe('u1');
    expect(parseIdentityHeader('subject="u1"').subject).toBe('u1');
  });

  it('reads a token with every character RFC 8941 allows after its first', () => {
    expect(parseIdentityHeader("subject=a!#$%&'*+-.^_`|~0:9/Z").subject).toBe(
      "a!#$%&'*+-.^_`|~0:9/Z",
    );
  });

  it('reads a token that starts with *', () => {
    expect(parseIdentityHeader('subject=*any').subject).toBe('*any');
  });

  it('keeps spaces, commas, parentheses and = inside a string as they are', () => {
    expect(parseIdentityHeader('subject="a b, c=(d); e"').subject).toBe('a b, c=(d); e');
  });

  it('reads \\" and \\\\ inside a string as " and \\', () => {
    expect(parseIdentityHeader('subject="say \\"hi\\" \\\\o/"').subject).toBe('say "hi" \\o/');
  });

  it('reads roles given as tokens, strings or a mix of both', () => {
    expect(parseIdentityHeader('subject=u, roles=(admin "dev ops" x:y)').roles).toStrictEqual([
      'admin',
      'dev ops',
      'x:y',
    ]);
  });

  it('reads empty roles () as no roles', () => {
    expect(parseIdentityHeader('subject="u1", roles=()').roles).toStrictEqual([]);
    expect(parseIdentityHeader('subject="u1", roles=(   )').roles).toStrictEqual([]);
  });

  it('reads a single role given as a bare item as a list of one', () => {
    expect(parseIdentityHeader('subject="u1", roles=admin').roles).toStrictEqual(['admin']);
    expect(parseIdentityHeader('subject="u1", roles="dev ops"').roles).toStrictEqual(['dev ops']);
  });

  it('keeps an empty string role and an empty string userType as they are', () => {
    expect(parseIdentityHeader('subject="u1", roles=(""), userType=""')).toStrictEqual({
      subject: 'u1',
      roles: [''],
      userType: '',
    });
  });
});

describe('parseIdentityHeader: whitespace', () => {
  it('allows spaces and tabs before and after the dictionary and around commas', () => {
    expect(
      parseIdentityHeader(' \t subject="u1" \t,\t roles=("a") ,userType=human \t'),
    ).toStrictEqual({ subject: 'u1', roles: ['a'], userType: 'human' });
  });

  it('rejects two members with no comma between them', () => {
    const error = parseError('subject="u1" roles=("a")');
    expect(error.message).toMatch(/expected ,/);
  });

  it('allows any number of spaces between and around the items of an inner list', () => {
    expect(parseIdentityHeader('subject=u, roles=(  a   "b"  c )').roles).toStrictEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('rejects a space between a key and its =', () => {
    expect(parseError('subject ="u1"')).toBeInstanceOf(IdentityHeaderError);
  });

  it('rejects a space between = and the value', () => {
    expect(parseError('subject= "u1"')).toBeInstanceOf(IdentityHeaderError);
  });

  it('rejects a tab inside an inner list, where RFC 8941 allows only spaces', () => {
    expect(parseError('subject=u, roles=(a\tb)')).toBeInstanceOf(IdentityHeaderError);
  });

  it('rejects two items of an inner list with nothing between them', () => {
    expect(parseError('subject=u, roles=("a""b")').message).toMatch(/space or \)/);
  });
});

describe('parseIdentityHeader: what it rejects', () => {
  it.each([
    ['an empty header', ''],
    ['a header of spaces', '   '],
    ['a header without subject', 'roles=("admin"), userType=human'],
  ])('rejects %s: subject is required', (_what, value) => {
    expect(parseError(value).message).toMatch(/subject is required/);
  });

  it('rejects an empty subject', () => {
    expect(parseError('subject=""').message).toMatch(/subject is required/);
  });

  it.each([
    ['a boolean', 'subject'],
    ['?1', 'subject=?1'],
    ['an integer', 'subject=42'],
    ['an inner list', 'subject=("u1")'],
  ])('rejects a subject given as %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/subject must be a string or a token/);
  });

  it.each([
    ['an integer', 'subject=u, roles=(1)'],
    ['a boolean', 'subject=u, roles=(?1)'],
    ['a bare integer', 'subject=u, roles=7'],
  ])('rejects a role given as %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/roles must be a string or a token/);
  });

  it('rejects a userType given as a boolean', () => {
    expect(parseError('subject=u, userType').message).toMatch(/userType must be/);
  });

  it.each([
    ['on a string member', 'subject="u1";a=1'],
    ['on a token member', 'subject=u1;a=1'],
    ['on an inner list', 'subject=u1, roles=("a");x=1'],
    ['on a bare key', 'subject=u1, flag;a'],
  ])('rejects parameters %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/parameters are not supported/);
  });

  it('rejects parameters on an item inside an inner list', () => {
    expect(parseError('subject=u1, roles=("a";x=1)')).toBeInstanceOf(IdentityHeaderError);
  });

  it.each([
    ['at the end of the header', 'subject="u1'],
    ['after an escaped quote', 'subject="u1\\"'],
    ['inside an inner list', 'subject=u, roles=("a'],
  ])('rejects an unterminated string %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/unterminated string/);
  });

  it.each([
    ['with items', 'subject=u, roles=("a" "b"'],
    ['with a trailing space', 'subject=u, roles=("a" '],
    ['right after (', 'subject=u, roles=('],
  ])('rejects an unterminated inner list %s', (_what, value) => {
    expect(parseError(value)).toBeInstanceOf(IdentityHeaderError);
  });

  it.each([
    ['a comma', 'subject="u1",'],
    ['a comma and spaces', 'subject="u1", \t '],
  ])('rejects a trailing %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/trailing comma/);
  });

  it('rejects a leading comma and two commas in a row', () => {
    expect(parseError(',subject="u1"').message).toMatch(/expected a key/);
    expect(parseError('subject="u1",,roles=()').message).toMatch(/expected a key/);
  });

  it.each([
    ['\\n', 'subject="a\\n"'],
    ['\\u', 'subject="\\u0041"'],
    ['\\ followed by a space', 'subject="a\\ b"'],
    ['\\ at the end of the header', 'subject="a\\'],
  ])('rejects the bad escape %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/bad escape/);
  });

  it.each([
    ['é in a string', 'subject="é"'],
    ['an emoji in a string', 'subject="u😀"'],
    ['a tab in a string', 'subject="a\tb"'],
    ['a newline in a string', 'subject="a\nb"'],
    ['DEL in a string', 'subject="a\x7fb"'],
  ])('rejects %s', (_what, value) => {
    expect(parseError(value).message).toMatch(/control or non-ASCII/);
  });

  it.each([
    ['in a token', 'subject=usé'],
    ['in a key', 'subjéct="u1"'],
    ['after a member', 'subject="u1"é'],
  ])('rejects non-ASCII %s', (_what, value) => {
    expect(parseError(value)).toBeInstanceOf(IdentityHeaderError);
  });

  it.each([
    ['a key starting with a digit', '1subject="u1"'],
    ['a key starting with _', '_x=1, subject="u1"'],
    ['a value starting with (', 'subject=u, roles=(('],
    ['a value of a lone -', 'subject=u, n=-'],
    ['a ? without 0 or 1', 'subject=u, flag=?2'],
    ['a decimal', 'subject=u, n=1.5'],
    ['a byte sequence', 'subject=u, b=:aGk=:'],
  ])('rejects %s', (_what, value) => {
    expect(parseError(value)).toBeInstanceOf(IdentityHeaderError);
  });

  it('names the position of the problem in its message', () => {
    expect(parseError('subject="u1", roles=("a";x=1)').message).toMatch(/at character 25$/);
  });

  it('is an Error named IdentityHeaderError', () => {
    const error = parseError('');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('IdentityHeaderError');
  });
});

describe('isEndHeader', () => {
  it('is true for ?1, with or without surrounding whitespace', () => {
    expect(isEndHeader('?1')).toBe(true);
    expect(isEndHeader('  ?1\t')).toBe(true);
  });

  it.each(['?0', '', '1', 'true', '?', '?10', '?1;a=1', '?1, ?1', 'yes', '"?1"'])(
    'is false for %j',
    (value) => {
      expect(isEndHeader(value)).toBe(false);
    },
  );
});

describe('formatIdentityHeader', () => {
  it('writes the SPEC example as an RFC 8941 dictionary', () => {
    expect(
      formatIdentityHeader({ subject: 'u1', roles: ['admin', 'dev'], userType: 'human' }),
    ).toBe('subject="u1", roles=("admin" "dev"), userType="human"');
  });

  it('writes empty roles as () and leaves userType out when it is absent', () => {
    expect(formatIdentityHeader({ subject: 'u1' })).toBe('subject="u1", roles=()');
    expect(formatIdentityHeader({ subject: 'u1', roles: [] })).toBe('subject="u1", roles=()');
  });

  it('escapes " and \\ in strings', () => {
    expect(formatIdentityHeader({ subject: 'a"b\\c' })).toBe('subject="a\\"b\\\\c", roles=()');
  });

  it('writes every character outside printable ASCII as ?, one per code point', () => {
    expect(formatIdentityHeader({ subject: 'é\r\n😀\t\x7f\ud800' })).toBe(
      'subject="???????", roles=()',
    );
  });
});

/** Printable ASCII, the characters an RFC 8941 string holds. */
const printable = fc.string({ unit: 'grapheme-ascii' });

/** Any text, including control characters, CR, LF, NUL and lone surrogates. */
const anyText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('\r', '\n', '\0', '\t', '\x7f', '\u2028', '\ud800', '\udfff', '"', '\\'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  ),
});

/** What formatIdentityHeader promises to keep of a text: printable ASCII, the rest as ?. */
const asFormatted = (text: string) =>
  Array.from(text, (char) => {
    const code = char.codePointAt(0) as number;
    return code >= 0x20 && code <= 0x7e ? char : '?';
  }).join('');

describe('formatIdentityHeader and parseIdentityHeader together', () => {
  it('give back any identity of printable ASCII unchanged', () => {
    fc.assert(
      fc.property(
        printable.filter((subject) => subject.length > 0),
        fc.option(fc.array(printable, { maxLength: 6 }), { nil: undefined }),
        fc.option(printable, { nil: undefined }),
        (subject, roles, userType) => {
          const identity = {
            subject,
            ...(roles === undefined ? {} : { roles }),
            ...(userType === undefined ? {} : { userType }),
          };
          expect(parseIdentityHeader(formatIdentityHeader(identity))).toStrictEqual({
            subject,
            roles: roles ?? [],
            ...(userType === undefined ? {} : { userType }),
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never write CR, LF or anything but printable ASCII, whatever the input, and what they write reads back', () => {
    fc.assert(
      fc.property(
        anyText.filter((subject) => subject.length > 0),
        fc.array(anyText, { maxLength: 4 }),
        fc.option(anyText, { nil: undefined }),
        (subject, roles, userType) => {
          const header = formatIdentityHeader({
            subject,
            roles,
            ...(userType === undefined ? {} : { userType }),
          });
          expect(header).toMatch(/^[\x20-\x7e]*$/);
          expect(() => validateHeaderValue('Lapse-Identity', header)).not.toThrow();
          expect(parseIdentityHeader(header)).toStrictEqual({
            subject: asFormatted(subject),
            roles: roles.map(asFormatted),
            ...(userType === undefined ? {} : { userType: asFormatted(userType) }),
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('cannot be made to add a member by a subject that looks like one', () => {
    const header = formatIdentityHeader({ subject: 'u1", roles=("admin"), x="' });
    expect(parseIdentityHeader(header)).toStrictEqual({
      subject: 'u1", roles=("admin"), x="',
      roles: [],
    });
  });
});
