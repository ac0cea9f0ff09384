-- Replace a room's timer (and optionally its boss) if nobody changed it since it was read.
-- KEYS[1] meta hash, KEYS[2] timers:due sorted set
-- ARGV[1] room_id, ARGV[2] timer_rev as read ('' = never set), ARGV[3] new timer_rev,
--   ARGV[4] timer record JSON ('' = no timer), ARGV[5] next phase change, epoch ms
--   ('' = none scheduled), ARGV[6] boss record JSON ('' = no boss, '=' = leave it as is)
-- Returns 'ok' | 'no_room' | 'conflict' (timer_rev moved since it was read)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_room' end
local rev = redis.call('HGET', KEYS[1], 'timer_rev') or ''
if rev ~= ARGV[2] then return 'conflict' end
redis.call('HSET', KEYS[1], 'timer_rev', ARGV[3], 'timer', ARGV[4])
if ARGV[6] ~= '=' then
  redis.call('HSET', KEYS[1], 'boss', ARGV[6], 'boss_tick', '')
end
if ARGV[5] == '' then
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
end
return 'ok'
