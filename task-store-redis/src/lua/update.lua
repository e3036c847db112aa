-- Applies one of the common changes (task_core::backend::plan) as a compare-and-set against
-- the status machine, stamps lastUpdatedAt
-- as max(now, previous + 1), and wakes the task's waiters with the changed task: its fields
-- in record::TASK_FIELDS order up to the owner, as a JSON array with false for a missing
-- field, so that they need not read it back.
--
-- KEYS: 1 task hash, then only for a change that ends the task: 2 unfinished tasks,
--       3 unfinished tasks by owner (see create.lua)
-- ARGV: 1 the caller's owner, or '' for trusted access, 2 wake-up channel,
--       3 statuses a task may change from, each followed and preceded by a comma,
--       4 new status or '',
--       5 '1' to set the message, 6 the message, 7 outcome JSON or '',
--       8 '1' to record a cancel request,
--       9 apply only if last updated before this time (ms since the epoch), or '',
--       10 '1' when the change ends the task: its pending input requests and unread answers
--          go, 11 '1' to apply only while no input request is pending (a move to working)
--       12 for a change that ends the task, the caller's owner in hex (keys::hex), or '',
--       13 for a change that ends the task, its index member after the creation time
--          (keys::Member::tail: the id, a NUL, then the caller's owner), or ''
-- Returns {'ok', status, message, createdMs, updatedMs, ttl, pollInterval}
--       | {'missing'} | {'transition', status} | {'fresh'} | {'pending'}

-- Each field asked for is a scan of the hash, so a change reads only what it needs: pending
-- input for a move to working, and what clears the task's input for an ending change. The
-- index entries it leaves are built from the creation time, the ttl and the caller's tail.
local ends = ARGV[10] == '1'
local f
if ends then
  f = redis.call('HMGET', KEYS[1], 'st', 'own', 'u', 'msg', 'c', 'ttl', 'pi', 'inp', 'rsp')
elseif ARGV[11] == '1' then
  f = redis.call('HMGET', KEYS[1], 'st', 'own', 'u', 'msg', 'c', 'ttl', 'pi', 'inp')
else
  f = redis.call('HMGET', KEYS[1], 'st', 'own', 'u', 'msg', 'c', 'ttl', 'pi')
end
local status = f[1]
if not status or (ARGV[1] ~= '' and f[2] ~= ARGV[1]) then
  return {'missing'}
end

if not string.find(ARGV[3], ',' .. status .. ',', 1, true) then
  return {'transition', status}
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local previous = tonumber(f[3])
local before = tonumber(ARGV[9])
if before and previous >= before then
  return {'fresh'}
end

if ARGV[11] == '1' and f[8] then
  return {'pending'}
end

local stamp = string.format('%d', math.max(now, previous + 1))
local fields = {'u', stamp}
if ARGV[4] ~= '' then
  status = ARGV[4]
  fields[#fields + 1] = 'st'
  fields[#fields + 1] = status
end
local message = f[4]
if ARGV[5] == '1' then
  message = ARGV[6]
  fields[#fields + 1] = 'msg'
  fields[#fields + 1] = message
end
if ARGV[7] ~= '' then
  fields[#fields + 1] = 'out'
  fields[#fields + 1] = ARGV[7]
end
if ARGV[8] == '1' then
  fields[#fields + 1] = 'cx'
  fields[#fields + 1] = '1'
end
redis.call('HSET', KEYS[1], unpack(fields))
-- A task that ends leaves the sets of unfinished tasks, which the limits count; a move between
-- changeable statuses leaves them alone.
if ends then
  if f[8] or f[9] then
    redis.call('HDEL', KEYS[1], 'inp', 'rsp')
  end
  -- A scoped caller's owner is the task's, so the caller's tail and hex spelling are the
  -- task's (spelled here, byte by byte, the hex cost a fifth of the script). Only trusted
  -- access adds the owner here.
  local member = string.format('%016x', tonumber(f[5])) .. ARGV[13]
  if ARGV[1] == '' then
    member = member .. (f[2] or '')
  end
  redis.call('ZREM', KEYS[2], member)
  if f[2] then
    -- create.lua's expiry, created + ttl, as 16 hex digits.
    local expiry = f[6] and string.format('%016x', tonumber(f[5]) + tonumber(f[6]))
      or 'ffffffffffffffff'
    local hex = ARGV[12]
    if ARGV[1] == '' then
      hex = string.gsub(f[2], '.', function(c) return string.format('%02x', string.byte(c)) end)
    end
    redis.call('ZREM', KEYS[3], hex .. ':' .. expiry .. member)
  end
end
redis.call('PUBLISH', ARGV[2],
  cjson.encode({status, message or false, f[5], stamp, f[6] or false, f[7] or false, f[2] or false}))

return {'ok', status, message, f[5], stamp, f[6], f[7]}
