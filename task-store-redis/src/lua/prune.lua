-- Removes the index, expiry and unfinished entries of tasks that are gone (expired), checking
-- each one here: an entry stays while its task hash still holds exactly the task it names.
--
-- KEYS: 1 all-tasks index, 2 all-tasks expiry, 3 unfinished tasks, 4 unfinished tasks by
--       owner, then for the i-th member: 3i+2 task hash, 3i+3 owner index, 3i+4 owner expiry
--       (for an unbound task, KEYS[1] and KEYS[2] again)
-- ARGV: the index members
-- Returns {'ok', entries removed from the all-tasks index, members whose task still lives}.

local removed = 0
local kept = 0
for i, member in ipairs(ARGV) do
  local task = 3 * i + 2
  local f = redis.call('HMGET', KEYS[task], 'id', 'c', 'own')
  local current = f[1] and (string.format('%016x', tonumber(f[2])) .. f[1] .. '\0' .. (f[3] or ''))
  if current ~= member then
    -- The unfinished-by-owner entry names the expiry, which the expiry index still holds.
    local owner = string.sub(member, (string.find(member, '\0', 17, true) or #member) + 1)
    if owner ~= '' then
      local at = redis.call('ZSCORE', KEYS[2], member)
      local expiry = at and string.format('%016x', tonumber(at)) or 'ffffffffffffffff'
      local hex = string.gsub(owner, '.', function(c) return string.format('%02x', string.byte(c)) end)
      redis.call('ZREM', KEYS[4], hex .. ':' .. expiry .. member)
    end
    removed = removed + redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
    redis.call('ZREM', KEYS[3], member)
    redis.call('ZREM', KEYS[task + 1], member)
    redis.call('ZREM', KEYS[task + 2], member)
  else
    kept = kept + 1
  end
end
return {'ok', removed, kept}
