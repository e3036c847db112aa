-- Takes or extends the background sweeper's lease, so that of the processes sharing a store
-- one sweeps at a time. The lease is left to expire after a sweep: the next one, in whichever
-- process, starts no sooner than the lease's length later.
--
-- KEYS: 1 the lease
-- ARGV: 1 the caller's token (unique per store object), 2 the lease's length in ms
-- Returns 1 when the caller now holds the lease for ARGV[2] ms, 0 when another holds it.

local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
