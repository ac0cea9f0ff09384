-- A member leaves (room_leave) or drops (disconnect) -- only if the sid still holds the slot.
-- KEYS[1] members hash, KEYS[2] users hash, KEYS[3] the user's membership key
-- ARGV[1] user_id, ARGV[2] sid, ARGV[3] mode: 'leave' (free the slot now) or 'drop' (keep
--   it for the resume window), ARGV[4] now_ms, ARGV[5] this room's id
-- Returns the member record JSON as it was before, or false when the sid holds no slot
--   (already left, or replaced by a newer connection of the same user).
local slot = redis.call('HGET', KEYS[2], ARGV[1])
if not slot then return false end
local rec_json = redis.call('HGET', KEYS[1], slot)
if not rec_json then return false end
local rec = cjson.decode(rec_json)
if rec.sid ~= ARGV[2] then return false end
if ARGV[3] == 'leave' then
  redis.call('HDEL', KEYS[1], slot)
  redis.call('HDEL', KEYS[2], ARGV[1])
  if redis.call('GET', KEYS[3]) == ARGV[5] then redis.call('DEL', KEYS[3]) end
else
  if rec.connected == 0 then return false end
  rec.connected = 0
  rec.dropped_ms = ARGV[4]
  redis.call('HSET', KEYS[1], slot, cjson.encode(rec))
end
return rec_json
