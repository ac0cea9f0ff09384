-- Claim a due phase change of one room: exactly one caller cluster-wide gets it.
-- KEYS[1] timers:due sorted set
-- ARGV[1] room_id, ARGV[2] now_ms
-- Returns the claimed due time (epoch ms) or false (not due, or claimed by another node).
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return false end
redis.call('ZREM', KEYS[1], ARGV[1])
return due
