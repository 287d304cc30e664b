import { createHash } from 'node:crypto';
import { isWellFormedIdHash } from '../../session/session-id.js';

/**
 * Key layout of the Redis store. Every Lua script touches exactly ONE key
 * (passed as KEYS[1]), so each script runs in one hash slot and Redis Cluster
 * routes it by that key; no script ever needs two keys in one slot.
 *
 *   <prefix>s<37 chars>  one session record (packed string, PXAT purgeAt)
 *   <prefix>i:<shard>    sorted set: the subject index and the due index at once;
 *                        member = the idHash + a 2-character subject fingerprint,
 *                        score = a time at or before the session next needs the sweep
 *                        (its next deadline while live, its purgeAt once ended: every
 *                        record kept is indexed, so `list` can find it)
 *   <prefix>q            sorted set of shards, score = a time at or before the
 *                        shard's earliest member: what the sweep looks at first
 *   <prefix>revoked      pub/sub channel (not a key): revocation notices
 *
 * A session key holds the first 37 base64url characters (222 bits) of the
 * idHash: with the default prefix the key is 44 bytes, the largest that fits
 * Redis's 48-byte allocation class (the full 43 would cost 16 bytes more per
 * session). Two SHA-256 outputs sharing 222 bits do not happen, and nobody can
 * aim for one (that is a preimage search); the full idHash is in the index
 * member, which is where the sweep and revokeSubject read it from. Only
 * canonical idHashes (what `hashSessionId` returns) are ever stored.
 *
 * `s` keys are exactly 38 bytes past the prefix and contain no colon, `i:`
 * keys contain one, and `q` is 1 byte long: the namespaces never meet.
 */

/**
 * Subject shards. A subject's sessions all sit in one shard, so
 * `revokeSubject` reads one sorted set; 4096 shards keep each set small
 * enough for Redis's compact listpack encoding (128 members by default) up to
 * about half a million sessions.
 */
export const SHARD_COUNT = 4096;

const KEY_CHARACTERS = 37;
const ID_HASH_LENGTH = 43;
const FINGERPRINT_LENGTH = 2;
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** Whether `idHash` is the base64url SHA-256 that `hashSessionId` returns (43 characters). */
export function isCanonicalIdHash(idHash: string): boolean {
  return isWellFormedIdHash(idHash);
}

/** Where a subject's sessions are indexed: a shard and a fingerprint that tells most subjects in it apart. */
export interface SubjectSlot {
  readonly shard: number;
  readonly fingerprint: string;
}

/** 12 bits of SHA-256(subject) pick the shard, the next 12 make the fingerprint. */
export function subjectSlot(subject: string): SubjectSlot {
  const digest = createHash('sha256').update(subject).digest();
  const b0 = digest[0] as number;
  const b1 = digest[1] as number;
  const b2 = digest[2] as number;
  const rest = ((b1 & 0x0f) << 8) | b2;
  return {
    shard: (b0 << 4) | (b1 >> 4),
    fingerprint: `${BASE64URL[rest >> 6] as string}${BASE64URL[rest & 0x3f] as string}`,
  };
}

/** The index member of a session: its idHash and its subject's fingerprint. */
export function indexMember(idHash: string, slot: SubjectSlot): string {
  return idHash + slot.fingerprint;
}

/** Whether an index member belongs to the subject with this slot's fingerprint. */
export function isMemberOf(member: string, slot: SubjectSlot): boolean {
  return member.length === ID_HASH_LENGTH + FINGERPRINT_LENGTH && member.endsWith(slot.fingerprint);
}

/** The idHash inside an index member. */
export function idHashOfMember(member: string): string {
  return member.slice(0, ID_HASH_LENGTH);
}

/** The keys of one store (one prefix). */
export class KeySpace {
  readonly prefix: string;
  readonly queue: string;
  readonly channel: string;
  readonly #session: string;
  readonly #shard: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.queue = `${prefix}q`;
    this.channel = `${prefix}revoked`;
    this.#session = `${prefix}s`;
    this.#shard = `${prefix}i:`;
  }

  /** The key of a session (its idHash must be canonical). */
  session(idHash: string): string {
    return this.#session + idHash.slice(0, KEY_CHARACTERS);
  }

  shard(shard: number | string): string {
    return this.#shard + String(shard);
  }
}
