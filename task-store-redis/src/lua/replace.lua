-- The compare-and-set of the record path (task_core::backend::update_by_record): writes a
-- record that task-core changed, only if the task is still there, visible to the caller and
-- unchanged since it was read (its lastUpdatedAt is still ARGV[3]), and wakes its waiters
-- with the written task as update.lua does. The record path never ends a task, so the
-- unfinished-task indexes stay as they are.
--
-- KEYS: 1 task hash
-- ARGV: 1 the caller's owner, or '' for trusted access, 2 wake-up channel,
--       3 expected lastUpdatedAt (ms), 4 new lastUpdatedAt (ms), 5 status,
--       6 '1' when there is a message, 7 the message, 8 outcome JSON or '',
--       9 '1' when a cancel was requested, 10 pending input requests JSON or '' for none,
--       11 input keys used JSON or '' for none, 12 unread answers JSON or '' for none
-- Returns {'ok', status, message, createdMs, updatedMs, ttl, pollInterval} | {'moved'}

local f = redis.call('HMGET', KEYS[1], 'st', 'own', 'u', 'c', 'ttl', 'pi')
if not f[1] or (ARGV[1] ~= '' and f[2] ~= ARGV[1]) or f[3] ~= ARGV[3] then
  return {'moved'}
end

local set = {'u', ARGV[4], 'st', ARGV[5]}
local drop = {}
local function field(name, value)
  if value == '' then
    drop[#drop + 1] = name
  else
    set[#set + 1] = name
    set[#set + 1] = value
  end
end
local message = false
if ARGV[6] == '1' then
  message = ARGV[7]
  set[#set + 1] = 'msg'
  set[#set + 1] = message
else
  drop[#drop + 1] = 'msg'
end
field('out', ARGV[8])
field('cx', ARGV[9] == '1' and '1' or '')
field('inp', ARGV[10])
field('used', ARGV[11])
field('rsp', ARGV[12])
redis.call('HSET', KEYS[1], unpack(set))
redis.call('HDEL', KEYS[1], unpack(drop))

redis.call('PUBLISH', ARGV[2],
  cjson.encode({ARGV[5], message, f[4], ARGV[4], f[5] or false, f[6] or false, f[2] or false}))

return {'ok', ARGV[5], message, f[4], ARGV[4], f[5], f[6]}
