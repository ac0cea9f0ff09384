-- Apply one room tick (boss state and focus accounting) for the lease holder, once.
-- KEYS[1] lease, KEYS[2] meta hash, KEYS[3] focus hash
-- ARGV[1] 'node_id:fence' the caller holds, ARGV[2] tick id (epoch s), ARGV[3] boss_tick as
--   read ('' = none yet), ARGV[4] timer_rev as read, ARGV[5] new boss JSON ('' = fight
--   over), ARGV[6] focus hash TTL ms, ARGV[7..] focus field, increment (ms) pairs
-- Returns 'ok' | 'not_owner' (lease lost or fenced off) | 'stale' (this or a later tick was
--   applied already) | 'conflict' (timer or boss changed since the caller read them)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'not_owner' end
local last = redis.call('HGET', KEYS[2], 'boss_tick') or ''
if last ~= '' and tonumber(last) >= tonumber(ARGV[2]) then return 'stale' end
if last ~= ARGV[3] then return 'conflict' end
if (redis.call('HGET', KEYS[2], 'timer_rev') or '') ~= ARGV[4] then return 'conflict' end
redis.call('HSET', KEYS[2], 'boss', ARGV[5], 'boss_tick', ARGV[2])
for i = 7, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1])
end
if #ARGV >= 7 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
return 'ok'
