-- Remove a ghost member (ghost_remove, its recording ended, the set ended), once.
-- KEYS[1] members hash
-- ARGV[1] recording id
-- Returns the ghost's record JSON as it was, or false when the room has no such ghost
--   (removed already: exactly one caller gets the record and announces member_left).
local sid = 'ghost:' .. ARGV[1]
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local rec = cjson.decode(flat[i + 1])
  if rec.sid == sid and rec.kind == 'ghost' then
    redis.call('HDEL', KEYS[1], flat[i])
    return flat[i + 1]
  end
end
return false
