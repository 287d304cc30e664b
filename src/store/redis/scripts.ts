/**
 * The Lua side of the Redis store. Every script touches exactly one key,
 * KEYS[1], so it runs in one hash slot (Redis Cluster routes it by that key).
 * Each deciding script mirrors one function of `session/decide.ts`; the
 * comments name the function a branch mirrors, and the property test in
 * `redis-store.test.ts` holds the two to the same answers.
 *
 * ARGV[1] of every script that needs a clock is "now": '' means Redis `TIME`
 * (the default: the store's clock is Redis's, so instances with skewed clocks
 * agree); a number is an injected test clock. Expiries are written as PXAT on
 * Redis's own clock, shifted by (TIME - now) when a test clock is injected, so
 * a key expires when that clock would reach its `purgeAt`.
 *
 * Packed records: see `record-codec.ts` (this file holds its Lua twin).
 */

/** Sets `now` (the deciding clock) and `real` (Redis TIME, ms). */
const CLOCK = `
local clock = redis.call('TIME')
local real = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local now = real
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
local function int(n) return string.format('%d', n) end
`;

/** Packed records: parse, build, write (the Lua twin of record-codec.ts). */
const RECORD = String.raw`
local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function enc(n)
  local negative = n < 0
  if negative then n = -n end
  local out = ''
  repeat
    local d = n % 36
    out = string.sub(DIGITS, d + 1, d + 1) .. out
    n = (n - d) / 36
  until n == 0
  if negative then return '-' .. out end
  return out
end
local function dec(x)
  if string.sub(x, 1, 1) == '-' then return -tonumber(string.sub(x, 2), 36) end
  return tonumber(x, 36)
end
-- r.c createdAt, r.l lastActivityAt, r.i idleExpiresAt (nil: off), r.a absoluteExpiresAt,
-- r.p purgeAt, r.e endedAt (nil: live), r.why end reason ('' live, i, a, r, o), r.tail text fields
local function parse(v)
  local cut = string.find(v, '\31', 1, true)
  local head, tail = v, ''
  if cut then head = string.sub(v, 1, cut - 1); tail = string.sub(v, cut) end
  local f = {}
  local n = 0
  for x in string.gmatch(head .. ',', '([^,]*),') do n = n + 1; f[n] = x end
  local r = { tail = tail, why = f[7] or '' }
  r.c = dec(f[1])
  r.l = r.c + dec(f[2])
  r.a = r.c + dec(f[4])
  r.p = r.a + dec(f[5])
  if f[3] and f[3] ~= '' then r.i = r.l + dec(f[3]) end
  if f[6] and f[6] ~= '' then r.e = r.c + dec(f[6]) end
  return r
end
local function build(r)
  local f = { enc(r.c), enc(r.l - r.c), '', enc(r.a - r.c), enc(r.p - r.a), '', r.why }
  if r.i then f[3] = enc(r.i - r.l) end
  if r.e then f[6] = enc(r.e - r.c) end
  local n = 7
  while n > 5 and f[n] == '' do n = n - 1 end
  return table.concat(f, ',', 1, n) .. r.tail
end
-- text fields: subject, roles, rule, userType, attrs, revokeReason (encoded, never unescaped here)
local function texts(tail)
  local s = { '', '', '', '', '', '' }
  local n = 0
  for x in string.gmatch(tail, '\31([^\31]*)') do n = n + 1; s[n] = x end
  return s
end
local function join(s)
  local n = 6
  while n > 0 and s[n] == '' do n = n - 1 end
  if n == 0 then return '' end
  return '\31' .. table.concat(s, '\31', 1, n)
end
-- SET ... PXAT purgeAt: no record is ever written without an expiry.
local function write(key, value, purgeAt)
  local at = purgeAt - now + real
  if at <= real then
    redis.call('DEL', key)
  else
    redis.call('SET', key, value, 'PXAT', int(at))
  end
end
-- A record past purgeAt is gone, whether or not Redis has expired the key yet.
local function load(key)
  local v = redis.call('GET', key)
  if not v or v == '~' then return nil, nil end
  local r = parse(v)
  if r.p <= now then return nil, nil end
  return r, v
end
`;

/** The pure decisions of decide.ts that every deciding script shares. */
const DECIDE = `
local function earlier(a, b)
  if a == nil then return b end
  if b == nil then return a end
  return math.min(a, b)
end
-- expiryAt: half-open; when both passed, the one that came first (absolute on a tie)
local function expiry(idle, absolute, t)
  local idlePassed = idle ~= nil and t >= idle
  if t >= absolute and (not idlePassed or absolute <= idle) then return 'a' end
  if idlePassed then return 'i' end
  return nil
end
-- expired + ended: end at the deadline that passed, keep the record until purgeAt
local function expire(r, why, idle, absolute, retain)
  if why == 'a' then r.e = absolute else r.e = idle end
  r.why = why
  r.p = math.max(r.a, r.e) + retain
end
-- nextDeadline
local function due(r)
  if r.i ~= nil and r.i < r.a then return r.i end
  return r.a
end
`;

/**
 * access: `decideAccess`, check and (for a touch) touch, one atomic step. The
 * hot path, so it stands alone: it parses the packed record with one pattern
 * match and re-encodes only the fields a touch changes.
 * KEYS[1] session. ARGV: now, mode ('t' touch, 'p' peek), retainMs, then the
 * policy table (policy-table.ts): default idle ('-' off), default absolute,
 * and per rule: name, roles condition, user-type condition, idle, absolute.
 * Reply: {0, '', now} unknown; {1, value, now, lowered} active (lowered = 1 when the
 * written next deadline is earlier than the stored one, so the index must follow);
 * {2, value, now} ended before; {3, value, now} ended by this call.
 */
export const ACCESS = String.raw`
local clock = redis.call('TIME')
local real = clock[1] * 1000 + math.floor(clock[2] / 1000)
local now = real
if ARGV[1] ~= '' then now = tonumber(ARGV[1]) end
local v = redis.call('GET', KEYS[1])
if not v or v == '~' then return {0, '', now} end
local f1, f2, f3, f4, f5, f6, f7, tail = string.match(v,
  '^([^,\31]*),([^,\31]*),([^,\31]*),([^,\31]*),([^,\31]*),?([^,\31]*),?([^,\31]*)(.*)$')
local function dec(x)
  if string.byte(x, 1) == 45 then return -tonumber(string.sub(x, 2), 36) end
  return tonumber(x, 36)
end
local c = dec(f1)
local l = c + dec(f2)
local a = c + dec(f4)
local p = a + dec(f5)
-- past purgeAt: gone, whether or not Redis has expired the key yet
if p <= now then return {0, '', now} end
-- decideAccess: an ended session stays ended with its original reason
if f7 ~= '' then return {2, v, now} end
local idle = nil
if f3 ~= '' then idle = l + dec(f3) end
local _, roles, rule, userType = string.match(tail, '^\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)')

-- resolveFromRules (idle and absolute): every rule whose session-side conditions hold
-- applies; smallest idle wins with off the least strict, smallest absolute wins, ties go
-- to the first name (rules come sorted by name); unset values come from the defaults.
local idleSet, idleMs, idleRule = false, nil, ''
local absoluteSet, absoluteMs = false, nil
local n = #ARGV
if n > 5 then
  local myType = '\30' .. userType .. '\30'
  for k = 6, n, 5 do
    -- matchesSession: roles any-of, userType any-of; a missing condition holds
    local holds = true
    local rolesWanted = ARGV[k + 1]
    if rolesWanted ~= '' then
      holds = false
      for role in string.gmatch(roles, '[^\30]+') do
        if string.find(rolesWanted, '\30' .. role .. '\30', 1, true) then holds = true; break end
      end
    end
    if holds and ARGV[k + 2] ~= '' then holds = string.find(ARGV[k + 2], myType, 1, true) ~= nil end
    if holds then
      local ruleIdle = ARGV[k + 3]
      if ruleIdle ~= '' then
        local candidate = nil
        if ruleIdle ~= '-' then candidate = tonumber(ruleIdle) end
        if not idleSet or (candidate ~= nil and (idleMs == nil or candidate < idleMs)) then
          idleSet, idleMs, idleRule = true, candidate, ARGV[k]
        end
      end
      local ruleAbsolute = ARGV[k + 4]
      if ruleAbsolute ~= '' then
        local candidate = tonumber(ruleAbsolute)
        if not absoluteSet or candidate < absoluteMs then absoluteSet, absoluteMs = true, candidate end
      end
    end
  end
end
if not idleSet and ARGV[4] ~= '-' then idleMs = tonumber(ARGV[4]) end
if not absoluteSet then absoluteMs = tonumber(ARGV[5]) end

-- deadlinesFor: the earlier of this context's deadlines and those fixed at the last write
local idleAt = idle
if idleMs then
  idleAt = l + idleMs
  if idle and idle < idleAt then idleAt = idle end
end
local absoluteAt = c + absoluteMs
if a < absoluteAt then absoluteAt = a end

local function enc(x)
  local negative = x < 0
  if negative then x = -x end
  local out = ''
  repeat
    local d = x % 36
    out = string.sub('0123456789abcdefghijklmnopqrstuvwxyz', d + 1, d + 1) .. out
    x = (x - d) / 36
  until x == 0
  if negative then return '-' .. out end
  return out
end
-- SET ... PXAT purgeAt (on Redis's clock): no record is ever written without an expiry
local function write(value, purgeAt)
  local at = purgeAt - now + real
  if at <= real then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], value, 'PXAT', string.format('%d', at))
  end
end

-- expiryAt: half-open; when both passed, the one that came first (absolute on a tie)
local idlePassed = idleAt ~= nil and now >= idleAt
local why = nil
if now >= absoluteAt and (not idlePassed or absoluteAt <= idleAt) then
  why = 'a'
elseif idlePassed then
  why = 'i'
end
local retain = tonumber(ARGV[3])
if why then
  -- decideAccess, a deadline passed: ended now, dated at that deadline (expired + ended);
  -- the stored deadlines stay as they were
  local endedAt = absoluteAt
  if why == 'i' then endedAt = idleAt end
  local purgeAt = math.max(a, endedAt) + retain
  local ended = f1 .. ',' .. f2 .. ',' .. f3 .. ',' .. f4 .. ',' .. enc(purgeAt - a) .. ','
    .. enc(endedAt - c) .. ',' .. why .. tail
  write(ended, purgeAt)
  return {3, ended, now}
end
-- decideAccess, peek: no write
if ARGV[2] ~= 't' then return {1, v, now, 0} end

-- decideAccess, touch: activity only moves forward, the absolute deadline never moves later
local before = a
if idle and idle < a then before = idle end
local touchedAt = l
if now > touchedAt then touchedAt = now end
local purgeAt = absoluteAt + retain
local idleField = ''
if idleMs then
  idleField = f3
  if not idle or idle - l ~= idleMs then idleField = enc(idleMs) end
end
local absoluteField = f4
if absoluteAt ~= a then absoluteField = enc(absoluteAt - c) end
local purgeField = f5
if purgeAt - absoluteAt ~= p - a then purgeField = enc(purgeAt - absoluteAt) end
if rule ~= idleRule then
  -- the deciding rule changed: rebuild the text fields, trailing empty ones left out
  local s = { string.match(tail,
    '^\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)\31?([^\31]*)$') }
  s[3] = idleRule
  local m = 6
  while m > 0 and s[m] == '' do m = m - 1 end
  tail = ''
  if m > 0 then tail = '\31' .. table.concat(s, '\31', 1, m) end
end
local touched = f1 .. ',' .. enc(touchedAt - c) .. ',' .. idleField .. ',' .. absoluteField .. ','
  .. purgeField .. tail
if purgeAt == p then
  -- the same purgeAt: the key already expires then (every write sets it)
  redis.call('SET', KEYS[1], touched, 'KEEPTTL')
else
  write(touched, purgeAt)
end
local after = absoluteAt
if idleMs and touchedAt + idleMs < after then after = touchedAt + idleMs end
local lowered = 0
if after < before then lowered = 1 end
return {1, touched, now, lowered}
`;

/**
 * create: `createRecord` unless the key holds a record (then `exists`).
 * KEYS[1] session. ARGV: now, retainMs, createdAt ('' = now), idleMs ('-' = off),
 * absoluteMs, text fields (packed by JS, which resolved the draft's policy).
 * Reply: {1, value, now} created; {2, value, now} exists; {3} reserved by a rotation.
 */
export const CREATE = `${CLOCK}${RECORD}
local v = redis.call('GET', KEYS[1])
if v == '~' then return {3} end
if v then
  local existing = parse(v)
  if existing.p > now then return {2, v, now} end
end
local c = now
if ARGV[3] ~= '' then c = tonumber(ARGV[3]) end
local r = { c = c, l = math.max(c, now), why = '', tail = ARGV[6] }
if ARGV[4] ~= '-' then r.i = r.l + tonumber(ARGV[4]) end
r.a = c + tonumber(ARGV[5])
r.p = r.a + tonumber(ARGV[2])
local created = build(r)
write(KEYS[1], created, r.p)
return {1, created, now}
`;

/**
 * revoke: `decideRevoke` (also the retire half of `decideRotate`), and the
 * revocation notice published in the same atomic step.
 * KEYS[1] session. ARGV: now, retainMs, end reason ('r' revoked, 'o' rotated),
 * revokeReason (encoded), subject guard ('' = any, else '+' .. encoded subject),
 * channel ('' = publish nothing), idHash.
 * Reply: {0} unknown; {1, value, now, previous} ended by this call; {2, value, now}
 * ended before; {3, value, now} its deadline had passed: ended now with that reason;
 * {4} another subject's session.
 */
export const REVOKE = String.raw`${CLOCK}${RECORD}${DECIDE}
local r, v = load(KEYS[1])
if not r then return {0} end
local s = texts(r.tail)
if ARGV[5] ~= '' and '+' .. s[1] ~= ARGV[5] then return {4} end
-- decideRevoke: an ended session keeps its reason
if r.why ~= '' then return {2, v, now} end
-- decideRevoke via expireIfDue: a passed stored deadline is the reason, not the revocation
local why = expiry(r.i, r.a, now)
if why then
  expire(r, why, r.i, r.a, tonumber(ARGV[2]))
  local expired = build(r)
  write(KEYS[1], expired, r.p)
  return {3, expired, now}
end
-- ended(record, 'revoked' | 'rotated', now, retainMs, revokeReason)
r.e = now
r.why = ARGV[3]
r.p = math.max(r.a, now) + tonumber(ARGV[2])
s[6] = ARGV[4]
r.tail = join(s)
local revoked = build(r)
write(KEYS[1], revoked, r.p)
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7] .. '\31' .. s[1] .. '\31' .. ARGV[4]) end
return {1, revoked, now, v}
`;

/**
 * expire: the sweep's claim, `expireIfDue` on the stored deadlines. Only the
 * call that makes the transition gets {3, ...}: two sweeping instances never
 * both report one expiry.
 * KEYS[1] session. ARGV: now, retainMs.
 * Reply: {0} gone; {1, nextDeadline} live, not due; {2, purgeAt} ended before;
 * {3, value} ended now.
 */
export const EXPIRE = `${CLOCK}${RECORD}${DECIDE}
local r = load(KEYS[1])
if not r then return {0} end
if r.why ~= '' then return {2, r.p} end
local why = expiry(r.i, r.a, now)
if not why then return {1, due(r)} end
expire(r, why, r.i, r.a, tonumber(ARGV[2]))
local expired = build(r)
write(KEYS[1], expired, r.p)
return {3, expired}
`;

/**
 * read: the record as stored (no decision, no write), and the clock.
 * KEYS[1] session. ARGV: now. Reply: {0, '', now} absent; {1, value, now}.
 */
export const READ = `${CLOCK}${RECORD}
local r, v = load(KEYS[1])
if not r then return {0, '', now} end
return {1, v, now}
`;

/**
 * swap: write `value` only if the key still holds `expected` (the optimistic
 * write of a decision made in JS, for resolvers that are not a ContextPolicy).
 * KEYS[1] session. ARGV: now, expected, value, purgeAt. Reply: 1 written, 0 changed meanwhile.
 */
export const SWAP = `${CLOCK}${RECORD}
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return 0 end
write(KEYS[1], ARGV[3], tonumber(ARGV[4]))
return 1
`;

/**
 * reserve: hold a free id for a rotation (`decideRotate` needs the new id
 * free, and checks it before retiring the old one).
 * KEYS[1] session. ARGV: now, ttlMs. Reply: 1 reserved, 0 taken.
 */
export const RESERVE = `${CLOCK}${RECORD}
local v = redis.call('GET', KEYS[1])
if v == '~' then return 0 end
if v and parse(v).p > now then return 0 end
redis.call('SET', KEYS[1], '~', 'PX', ARGV[2])
return 1
`;

/**
 * place: write a rotation's successor into its reserved key.
 * KEYS[1] session. ARGV: now, value, purgeAt. Reply: 1 written, 0 taken by a record.
 */
export const PLACE = `${CLOCK}${RECORD}
local v = redis.call('GET', KEYS[1])
if v and v ~= '~' and parse(v).p > now then return 0 end
write(KEYS[1], ARGV[2], tonumber(ARGV[3]))
return 1
`;

/** release: drop a reservation (a rotation that did not happen). KEYS[1] session. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == '~' then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * index: add a session to its subject's shard, before its record is written,
 * so no stored session is ever out of reach of the sweep and revokeSubject.
 * KEYS[1] shard. ARGV: now, member, mode, then
 *   mode 'c' (a session about to be created): createdAt ('' = now), idleMs ('-' off),
 *     absoluteMs, retainMs; the score is `nextDeadline` of the record `createRecord`
 *     would make now, at or before the one the create script makes a moment later;
 *   mode 'l' (a known deadline): due, purgeAt; the score only ever moves earlier.
 * A score already due is filed a second ahead instead (see below). The shard's
 * expiry is pushed out to the member's purgeAt: never shortened.
 * Reply: the score.
 */
export const INDEX = `${CLOCK}
local score, purge
if ARGV[3] == 'c' then
  local c = now
  if ARGV[4] ~= '' then c = tonumber(ARGV[4]) end
  local absolute = c + tonumber(ARGV[6])
  score = absolute
  if ARGV[5] ~= '-' then score = math.min(math.max(c, now) + tonumber(ARGV[5]), absolute) end
  purge = absolute + tonumber(ARGV[7])
else
  score = tonumber(ARGV[4])
  purge = tonumber(ARGV[5])
end
-- The record is written a moment after this entry. A sweep reading the entry
-- before then would find no record and drop the entry, so it is never filed as
-- already due (only a session created past its deadline would be): it is looked
-- at a second from now instead, when its record is there.
if score <= now then score = now + 1000 end
if ARGV[3] == 'c' then
  redis.call('ZADD', KEYS[1], int(score), ARGV[2])
else
  redis.call('ZADD', KEYS[1], 'LT', int(score), ARGV[2])
end
local at = math.max(purge - now + real, real + 1000)
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or (ttl >= 0 and real + ttl < at) then redis.call('PEXPIREAT', KEYS[1], int(at)) end
return score
`;

/**
 * reindex: after the sweep looked at some members, move each one only if its
 * score is still the one the sweep read (a writer may have moved it earlier
 * meanwhile; that earlier score must stand). A new score of '' removes it.
 * KEYS[1] shard. ARGV: triples member, score read, new score.
 * Reply: {} empty shard, else {earliest score}.
 */
export const REINDEX = `
for k = 1, #ARGV, 3 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[k])
  if score and tonumber(score) == tonumber(ARGV[k + 1]) then
    if ARGV[k + 2] == '' then
      redis.call('ZREM', KEYS[1], ARGV[k])
    else
      redis.call('ZADD', KEYS[1], ARGV[k + 2], ARGV[k])
    end
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {} end
return {first[2]}
`;

/**
 * enqueue: tell the sweep when to look at shards; a shard's score only moves
 * earlier here (the sweep alone moves it later, after taking it out).
 * KEYS[1] queue. ARGV: ttlMs, then pairs score, shard.
 */
export const ENQUEUE = `
redis.call('ZADD', KEYS[1], 'LT', unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

/**
 * take: the shards due for the sweep, removed from the queue in the same step
 * (the sweep puts each back with its new earliest score once done).
 * KEYS[1] queue. ARGV: now, limit. Reply: {now, {shard, ...}}.
 */
export const TAKE = `${CLOCK}
local shards = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, tonumber(ARGV[2]))
if #shards > 0 then redis.call('ZREM', KEYS[1], unpack(shards)) end
return {now, shards}
`;

/** Every script, by the command name the store defines for it. */
export const SCRIPTS = {
  lapseAccess: ACCESS,
  lapseCreate: CREATE,
  lapseRevoke: REVOKE,
  lapseExpire: EXPIRE,
  lapseRead: READ,
  lapseSwap: SWAP,
  lapseReserve: RESERVE,
  lapsePlace: PLACE,
  lapseRelease: RELEASE,
  lapseIndex: INDEX,
  lapseReindex: REINDEX,
  lapseEnqueue: ENQUEUE,
  lapseTake: TAKE,
} as const;
