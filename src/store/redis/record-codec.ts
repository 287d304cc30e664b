import { DEFAULTS_SOURCE } from '../../policy/resolve.js';
import type { EndReason, SessionAttrs, SessionRecord } from '../../session/types.js';

/*
 * The packed form of a session record, written by JS (create, rotate) and by
 * the Lua scripts (every other write); both sides must produce and read the
 * same thing (`scripts.ts` holds the Lua twin of this file).
 *
 *   numbers ["\x1f" strings]
 *
 * numbers: up to 7 comma-separated fields, base 36, '-' for negatives, times
 * relative to each other so they stay short:
 *   createdAt, lastActivityAt - createdAt, idleExpiresAt - lastActivityAt ('' = idle off),
 *   absoluteExpiresAt - createdAt, purgeAt - absoluteExpiresAt,
 *   endedAt - createdAt ('' while live), end reason ('' live, i, a, r, o)
 * strings: up to 6 fields, each after a "\x1f": subject, roles (joined by
 * "\x1e"), rule ('' = defaults), userType ('' = human), attrs ('' = {}, else
 * JSON), revokeReason. Trailing empty fields are left out in both parts.
 *
 * A live session decided by the defaults, with a short subject and one role,
 * packs into about 40 bytes, which Redis keeps inline with the key's object
 * (an "embstr", up to 44 bytes); a longer one costs one more 16-byte
 * allocation. The memory budget of the store depends on this.
 *
 * A key holding "~" instead is a session id reserved by a rotation in
 * progress: never a record (no record starts with "~").
 *
 * Text fields escape the control characters 0x1b-0x1f (the format uses 0x1e
 * and 0x1f, 0x1b is the escape) as "\x1b" + a digit, and an empty string where
 * '' already means something (a role, a user type, a rule) as "\x1b_". Lua
 * never unescapes: it compares and copies encoded forms only (the policy
 * table's names and conditions are encoded the same way).
 */

/** Field separator before each text field. */
export const FIELD = '\x1f';
/** Separator between list items (roles; the policy table's condition lists). */
export const ITEM = '\x1e';

const ESCAPE = '\x1b';
const EMPTY = `${ESCAPE}_`;
// biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are the format's separators.
const NEEDS_ESCAPE = /[\x1b-\x1f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape character of the format.
const ESCAPED = /\x1b([0-4_])/g;

const REASON_CODES: Readonly<Record<EndReason, string>> = {
  idle: 'i',
  absolute: 'a',
  revoked: 'r',
  rotated: 'o',
};
const REASONS: Readonly<Record<string, EndReason>> = {
  i: 'idle',
  a: 'absolute',
  r: 'revoked',
  o: 'rotated',
};

const EMPTY_ROLES: readonly string[] = Object.freeze([]);
const EMPTY_ATTRS: SessionAttrs = Object.freeze({});

/** Escape the format's control characters; '' stays ''. */
export function encodeText(text: string): string {
  return text.replace(NEEDS_ESCAPE, (c) => ESCAPE + String(c.charCodeAt(0) - 0x1b));
}

/** Undo {@link encodeText} (and {@link encodeItem}'s empty marker). */
export function decodeText(text: string): string {
  if (!text.includes(ESCAPE)) return text;
  return text.replace(ESCAPED, (_, code: string) =>
    code === '_' ? '' : String.fromCharCode(0x1b + Number(code)),
  );
}

/** A list item, a rule or a user type: text where '' needs its own marker. */
export function encodeItem(text: string): string {
  return text === '' ? EMPTY : encodeText(text);
}

/** `human`, the default user type, packs as ''. */
export function encodeUserType(userType: string): string {
  return userType === 'human' ? '' : encodeItem(userType);
}

/** `defaults`, the usual deciding rule, packs as ''. */
export function encodeRule(rule: string): string {
  return rule === DEFAULTS_SOURCE ? '' : encodeItem(rule);
}

export function encodeRoles(roles: readonly string[]): string {
  let out = '';
  for (let i = 0; i < roles.length; i++) {
    if (i > 0) out += ITEM;
    out += encodeItem(roles[i] as string);
  }
  return out;
}

function encodeAttrs(attrs: SessionAttrs): string {
  for (const _ in attrs) return encodeText(JSON.stringify(attrs));
  return '';
}

function base36(n: number): string {
  return n.toString(36);
}

function parse36(text: string): number {
  return Number.parseInt(text, 36);
}

/** The text fields of a record, packed ('' when all are empty). */
export interface TextFields {
  readonly subject: string;
  readonly roles: readonly string[];
  readonly rule: string;
  readonly userType: string;
  readonly attrs: SessionAttrs;
  readonly revokeReason?: string | undefined;
}

/** The text part of a packed record, each field after FIELD, trailing empties left out. */
export function encodeTextFields(fields: TextFields): string {
  const parts = [
    encodeText(fields.subject),
    encodeRoles(fields.roles),
    encodeRule(fields.rule),
    encodeUserType(fields.userType),
    encodeAttrs(fields.attrs),
    fields.revokeReason === undefined ? '' : encodeText(fields.revokeReason),
  ];
  let last = parts.length;
  while (last > 0 && parts[last - 1] === '') last--;
  let out = '';
  for (let i = 0; i < last; i++) out += FIELD + (parts[i] as string);
  return out;
}

/** Pack a record (its idHash is the key, so it is not stored). */
export function encodeRecord(record: SessionRecord): string {
  const numbers = [
    base36(record.createdAt),
    base36(record.lastActivityAt - record.createdAt),
    record.idleExpiresAt === null ? '' : base36(record.idleExpiresAt - record.lastActivityAt),
    base36(record.absoluteExpiresAt - record.createdAt),
    base36(record.purgeAt - record.absoluteExpiresAt),
    record.endedAt === undefined ? '' : base36(record.endedAt - record.createdAt),
    record.endReason === undefined ? '' : REASON_CODES[record.endReason],
  ];
  let last = numbers.length;
  while (last > 5 && numbers[last - 1] === '') last--;
  return numbers.slice(0, last).join(',') + encodeTextFields(record);
}

/** Unpack a record stored under `idHash`. */
export function decodeRecord(idHash: string, value: string): SessionRecord {
  const cut = value.indexOf(FIELD);
  const numbers = (cut === -1 ? value : value.slice(0, cut)).split(',');
  const texts = cut === -1 ? [] : value.slice(cut + 1).split(FIELD);
  const createdAt = parse36(numbers[0] as string);
  const lastActivityAt = createdAt + parse36(numbers[1] as string);
  const idle = numbers[2] ?? '';
  const absoluteExpiresAt = createdAt + parse36(numbers[3] as string);
  const purgeAt = absoluteExpiresAt + parse36(numbers[4] as string);
  const ended = numbers[5] ?? '';
  const endReason = REASONS[numbers[6] ?? ''];
  const roles = texts[1] ?? '';
  const rule = texts[2] ?? '';
  const userType = texts[3] ?? '';
  const attrs = texts[4] ?? '';
  const record: SessionRecord = {
    idHash,
    subject: decodeText(texts[0] ?? ''),
    roles: roles === '' ? EMPTY_ROLES : roles.split(ITEM).map(decodeText),
    userType: userType === '' ? 'human' : decodeText(userType),
    attrs: attrs === '' ? EMPTY_ATTRS : (JSON.parse(decodeText(attrs)) as SessionAttrs),
    createdAt,
    lastActivityAt,
    idleExpiresAt: idle === '' ? null : lastActivityAt + parse36(idle),
    absoluteExpiresAt,
    rule: rule === '' ? DEFAULTS_SOURCE : decodeText(rule),
    purgeAt,
  };
  if (endReason === undefined) return record;
  const revoked = endReason === 'revoked' || endReason === 'rotated';
  return {
    ...record,
    endedAt: createdAt + parse36(ended),
    endReason,
    ...(revoked ? { revokeReason: decodeText(texts[5] ?? '') } : {}),
  };
}
