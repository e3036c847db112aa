-- Creates a task in one step: refuses a live duplicate id, enforces the limits counting only
-- unexpired tasks, then writes the record, its index entries and its expiry.
--
-- KEYS: 1 task hash, 2 all-tasks index, 3 all-tasks expiry,
--       4 owner index, 5 owner expiry (both only for an owned task)
-- ARGV: 1 effective ttl in ms or '', 2 max live tasks or '', 3 max live tasks per owner or '',
--       4 index member tail (id, NUL, owner), 5... record fields as name/value pairs
-- Returns {'ok', createdMs} | {'exists'} | {'limit_total'} | {'limit_owner'}

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end

-- Index entries of expired tasks linger until pruned: count them out by their expiry.
local function live(index, expiry)
  return redis.call('ZCARD', index) - redis.call('ZCOUNT', expiry, '-inf', now)
end

local max_total = tonumber(ARGV[2])
if max_total and live(KEYS[2], KEYS[3]) >= max_total then
  return {'limit_total'}
end
local max_owner = tonumber(ARGV[3])
if max_owner and KEYS[4] and live(KEYS[4], KEYS[5]) >= max_owner then
  return {'limit_owner'}
end

local stamp = string.format('%d', now)
local member = string.format('%016x', now) .. ARGV[4]
redis.call('HSET', KEYS[1], 'c', stamp, 'u', stamp, unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], 0, member)
if KEYS[4] then
  redis.call('ZADD', KEYS[4], 0, member)
end

local ttl = tonumber(ARGV[1])
if ttl then
  local at = string.format('%d', now + ttl)
  redis.call('HSET', KEYS[1], 'exp', at)
  redis.call('ZADD', KEYS[3], at, member)
  if KEYS[5] then
    redis.call('ZADD', KEYS[5], at, member)
  end
  -- Redis keeps a key while now <= its expiry; a task lives while now < created + ttl.
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', now + ttl - 1))
end

return {'ok', now}
