-- Deletes a task with its index, expiry and unfinished entries in one step, and wakes its
-- waiters.
--
-- KEYS: 1 task hash, 2 all-tasks index, 3 all-tasks expiry, 4 unfinished tasks,
--       5 unfinished tasks by owner, 6 owner index, 7 owner expiry (both only for an owned
--       task)
-- ARGV: 1 the caller's owner, or '' for trusted access, 2 wake-up channel,
--       3 the owner the caller built KEYS for, or '' for none, 4 that owner in hex (keys::hex)
-- Returns 1 when deleted, 0 when no visible task exists, -1 when the task's owner is not the
-- one KEYS were built for (the id was reused meanwhile: read it again and retry).

local f = redis.call('HMGET', KEYS[1], 'id', 'c', 'own', 'exp')
if not f[1] or (ARGV[1] ~= '' and f[3] ~= ARGV[1]) then
  return 0
end
local owner = f[3] or ''
if owner ~= ARGV[3] then
  return -1
end

-- The index member, as create.lua wrote it.
local member = string.format('%016x', tonumber(f[2])) .. f[1] .. '\0' .. owner
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], member)
redis.call('ZREM', KEYS[3], member)
redis.call('ZREM', KEYS[4], member)
if KEYS[6] then
  redis.call('ZREM', KEYS[6], member)
  redis.call('ZREM', KEYS[7], member)
  local expiry = f[4] and string.format('%016x', tonumber(f[4])) or 'ffffffffffffffff'
  redis.call('ZREM', KEYS[5], ARGV[4] .. ':' .. expiry .. member)
end
redis.call('PUBLISH', ARGV[2], 'deleted')
return 1
