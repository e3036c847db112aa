-- Creates a task in one step: refuses a live duplicate id, enforces the limits counting only
-- unfinished, unexpired tasks, then writes the record, its index entries and its expiry.
--
-- KEYS: 1 task hash, 2 all-tasks index, 3 all-tasks expiry, 4 unfinished tasks,
--       5 unfinished tasks by owner, 6 owner index, 7 owner expiry (both only for an owned
--       task)
-- ARGV: 1 effective ttl in ms or '', 2 max unfinished tasks or '', 3 max unfinished tasks per
--       owner or '', 4 index member tail (id, NUL, owner), 5 the owner in hex or '',
--       6... record fields as name/value pairs
-- Returns {'ok', createdMs} | {'exists'} | {'limit_total'} | {'limit_owner'}
--
-- Unfinished tasks are counted in two sets, which update.lua leaves when a task ends and
-- delete.lua and prune.lua when it goes: KEYS[4] holds index members scored by expiry
-- (+inf for none); KEYS[5] holds, all with score 0, `<owner hex>:<expiry as 16 hex digits,
-- or 16 f's>` then the index member, so that one owner's unexpired entries are one range.

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end

-- Entries of unfinished tasks that expired linger until pruned: drop them first.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local owner = ARGV[5]
local unexpired = owner .. ':' .. string.format('%016x', now + 1)
if KEYS[6] then
  redis.call('ZREMRANGEBYLEX', KEYS[5], '[' .. owner .. ':', '(' .. unexpired)
end

local max_total = tonumber(ARGV[2])
if max_total and redis.call('ZCARD', KEYS[4]) >= max_total then
  return {'limit_total'}
end
local max_owner = tonumber(ARGV[3])
if max_owner and KEYS[6]
    and redis.call('ZLEXCOUNT', KEYS[5], '[' .. unexpired, '(' .. owner .. ';') >= max_owner then
  return {'limit_owner'}
end

local stamp = string.format('%d', now)
local member = string.format('%016x', now) .. ARGV[4]
redis.call('HSET', KEYS[1], 'c', stamp, 'u', stamp, unpack(ARGV, 6))
redis.call('ZADD', KEYS[2], 0, member)
if KEYS[6] then
  redis.call('ZADD', KEYS[6], 0, member)
end

local ttl = tonumber(ARGV[1])
local expiry = 'ffffffffffffffff'
if ttl then
  local at = string.format('%d', now + ttl)
  expiry = string.format('%016x', now + ttl)
  redis.call('HSET', KEYS[1], 'exp', at)
  redis.call('ZADD', KEYS[3], at, member)
  if KEYS[7] then
    redis.call('ZADD', KEYS[7], at, member)
  end
  redis.call('ZADD', KEYS[4], at, member)
  -- Redis keeps a key while now <= its expiry; a task lives while now < created + ttl.
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', now + ttl - 1))
else
  redis.call('ZADD', KEYS[4], '+inf', member)
end
if KEYS[6] then
  redis.call('ZADD', KEYS[5], 0, owner .. ':' .. expiry .. member)
end

return {'ok', now}
