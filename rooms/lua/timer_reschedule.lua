-- Schedule a room's next phase change after a claim, unless a command changed the timer.
-- KEYS[1] meta hash, KEYS[2] timers:due sorted set
-- ARGV[1] room_id, ARGV[2] timer_rev the claimer computed from, ARGV[3] next change ms
-- Returns 1 if scheduled, 0 if the timer moved on (its command scheduled its own change).
if (redis.call('HGET', KEYS[1], 'timer_rev') or '') ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
