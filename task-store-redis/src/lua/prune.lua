-- Removes the index and expiry entries of tasks that are gone (expired), checking each one
-- here: an entry stays while its task hash still holds exactly the task it names.
--
-- KEYS: 1 all-tasks index, 2 all-tasks expiry, then for the i-th member: 3i task hash,
--       3i+1 owner index, 3i+2 owner expiry (for an unbound task, KEYS[1] and KEYS[2] again)
-- ARGV: the index members
-- Returns {'ok', entries removed from the all-tasks index, members whose task still lives}.

local removed = 0
local kept = 0
for i, member in ipairs(ARGV) do
  local task = 3 * i
  local f = redis.call('HMGET', KEYS[task], 'id', 'c', 'own')
  local current = f[1] and (string.format('%016x', tonumber(f[2])) .. f[1] .. '\0' .. (f[3] or ''))
  if current ~= member then
    removed = removed + redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
    redis.call('ZREM', KEYS[task + 1], member)
    redis.call('ZREM', KEYS[task + 2], member)
  else
    kept = kept + 1
  end
end
return {'ok', removed, kept}
