/**
 * The identity headers of `identity.mode: upstream` (SPEC section 5), RFC 8941
 * dictionaries:
 *
 * - `Lapse-Begin: subject="u1", roles=("admin" "dev"), userType=human` — sent by
 *   the app to start a session; consumed and stripped by the gateway;
 * - `Lapse-End: ?1` — sent by the app to end one;
 * - `Lapse-Identity` — the same dictionary as `Lapse-Begin`, added by the
 *   gateway to every request it forwards with a live session, so the app
 *   knows who is signed in without a session store of its own.
 *
 * Keys are read case-sensitively as the SPEC writes them (`userType` is not a
 * lower-case RFC 8941 key, so the parser accepts upper case letters too).
 */
import type { SessionDraft } from '../session/types.js';

/** Why an identity header could not be read. */
export class IdentityHeaderError extends Error {
  override readonly name = 'IdentityHeaderError';
}

type BareItem = string | boolean | number | { readonly token: string };
type Member = BareItem | readonly BareItem[];

const KEY_START = /[a-zA-Z*]/;
const KEY_CHAR = /[a-zA-Z0-9_\-.*]/;
const TOKEN_START = /[a-zA-Z*]/;
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9a-zA-Z:/]/;

/** A small RFC 8941 dictionary parser: strings, tokens, integers, booleans, inner lists; no parameters. */
function parseDictionary(text: string): Map<string, Member> {
  const members = new Map<string, Member>();
  let at = 0;
  const fail = (what: string): never => {
    throw new IdentityHeaderError(`${what} at character ${at + 1}`);
  };
  const skipSpaces = (): void => {
    while (text[at] === ' ' || text[at] === '\t') at += 1;
  };
  const parseBareItem = (): BareItem => {
    const char = text[at];
    if (char === '"') {
      at += 1;
      let value = '';
      for (;;) {
        const next = text[at];
        if (next === undefined) fail('unterminated string');
        at += 1;
        if (next === '"') return value;
        if (next === '\\') {
          const escaped = text[at];
          if (escaped !== '"' && escaped !== '\\') fail('bad escape in string');
          value += escaped;
          at += 1;
        } else {
          const code = (next as string).charCodeAt(0);
          if (code < 0x20 || code > 0x7e) fail('control or non-ASCII character in string');
          value += next;
        }
      }
    }
    if (char === '?') {
      const flag = text[at + 1];
      if (flag !== '0' && flag !== '1') fail('expected ?0 or ?1');
      at += 2;
      return flag === '1';
    }
    if (char !== undefined && /[-0-9]/.test(char)) {
      const match = /^-?[0-9]{1,15}/.exec(text.slice(at));
      if (match === null) fail('bad integer');
      at += (match as RegExpExecArray)[0].length;
      return Number((match as RegExpExecArray)[0]);
    }
    if (char !== undefined && TOKEN_START.test(char)) {
      let token = '';
      while (text[at] !== undefined && TOKEN_CHAR.test(text[at] as string)) {
        token += text[at];
        at += 1;
      }
      return { token };
    }
    return fail('expected a string, token, integer or boolean');
  };
  const parseMember = (): Member => {
    if (text[at] !== '(') return parseBareItem();
    at += 1;
    const items: BareItem[] = [];
    for (;;) {
      while (text[at] === ' ') at += 1;
      if (text[at] === ')') {
        at += 1;
        return items;
      }
      if (text[at] === undefined) fail('unterminated inner list');
      items.push(parseBareItem());
      if (text[at] !== ' ' && text[at] !== ')') fail('expected a space or ) in inner list');
    }
  };
  skipSpaces();
  while (at < text.length) {
    if (!KEY_START.test(text[at] as string)) fail('expected a key');
    let key = '';
    while (text[at] !== undefined && KEY_CHAR.test(text[at] as string)) {
      key += text[at];
      at += 1;
    }
    let member: Member = true;
    if (text[at] === '=') {
      at += 1;
      member = parseMember();
    }
    if (text[at] === ';') fail('parameters are not supported');
    members.set(key, member);
    skipSpaces();
    if (at >= text.length) break;
    if (text[at] !== ',') fail('expected ,');
    at += 1;
    skipSpaces();
    if (at >= text.length) fail('trailing comma');
  }
  return members;
}

function asText(member: Member | undefined, key: string): string | undefined {
  if (member === undefined) return undefined;
  if (typeof member === 'string') return member;
  if (typeof member === 'object' && !Array.isArray(member) && 'token' in member) {
    return (member as { token: string }).token;
  }
  throw new IdentityHeaderError(`${key} must be a string or a token`);
}

/**
 * Read `Lapse-Begin` (or `Lapse-Identity`) into a session draft.
 *
 * @example
 * import { parseIdentityHeader } from 'lapse/gateway';
 * parseIdentityHeader('subject="u1", roles=("admin" "dev"), userType=human');
 * // { subject: 'u1', roles: ['admin', 'dev'], userType: 'human' }
 */
export function parseIdentityHeader(value: string): SessionDraft & { roles: readonly string[] } {
  const members = parseDictionary(value);
  const subject = asText(members.get('subject'), 'subject');
  if (subject === undefined || subject.length === 0) {
    throw new IdentityHeaderError('subject is required');
  }
  const rolesMember = members.get('roles');
  let roles: string[] = [];
  if (rolesMember !== undefined) {
    const list = Array.isArray(rolesMember) ? rolesMember : [rolesMember as BareItem];
    roles = list.map((item) => asText(item, 'roles') as string);
  }
  const userType = asText(members.get('userType'), 'userType');
  return { subject, roles, ...(userType === undefined ? {} : { userType }) };
}

/** Whether a `Lapse-End` value asks to end the session (`?1`). */
export function isEndHeader(value: string): boolean {
  return value.trim() === '?1';
}

function sfString(value: string): string {
  let quoted = '"';
  for (const char of value) {
    const code = char.codePointAt(0) as number;
    if (char === '"' || char === '\\') quoted += `\\${char}`;
    else if (code >= 0x20 && code <= 0x7e) quoted += char;
    else quoted += '?';
  }
  return `${quoted}"`;
}

/**
 * Write an identity as an RFC 8941 dictionary (`Lapse-Identity`, or a
 * `Lapse-Begin` from an app). Characters outside printable ASCII become `?`:
 * keep subjects to ASCII identifiers.
 *
 * @example
 * import { formatIdentityHeader } from 'lapse/gateway';
 * res.setHeader('Lapse-Begin', formatIdentityHeader({ subject: 'u1', roles: ['admin'] }));
 */
export function formatIdentityHeader(identity: {
  readonly subject: string;
  readonly roles?: readonly string[];
  readonly userType?: string;
}): string {
  const roles = (identity.roles ?? []).map(sfString).join(' ');
  const userType =
    identity.userType === undefined ? '' : `, userType=${sfString(identity.userType)}`;
  return `subject=${sfString(identity.subject)}, roles=(${roles})${userType}`;
}
