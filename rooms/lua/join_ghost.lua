-- Add a recorded focus phase as a ghost member: its own slot, capacity enforced, atomic.
-- A ghost is not in the users hash (its user may be a live member of this or another room:
-- one live session per user is about live slots) and never drops (connected stays 1).
-- KEYS[1] meta hash, KEYS[2] members hash (slot -> record JSON)
-- ARGV[1] recording id, ARGV[2] the recording's user_id, ARGV[3] display_name,
--   ARGV[4] node_id, ARGV[5] now_ms
-- Returns {status, record_json}; status: 'ok' | 'no_room' | 'room_full' | 'conflict' (this
--   recording is a ghost of the room already; record_json is that ghost's record)
local capacity = tonumber(redis.call('HGET', KEYS[1], 'capacity'))
if not capacity then return {'no_room', ''} end
local sid = 'ghost:' .. ARGV[1]
local flat = redis.call('HGETALL', KEYS[2])
for i = 1, #flat, 2 do
  if cjson.decode(flat[i + 1]).sid == sid then return {'conflict', flat[i + 1]} end
end
if #flat / 2 >= capacity then return {'room_full', ''} end
local slot = 0
while redis.call('HEXISTS', KEYS[2], tostring(slot)) == 1 do slot = slot + 1 end
local rec = {slot = slot, user_id = ARGV[2], display_name = ARGV[3], kind = 'ghost',
  sid = sid, node_id = ARGV[4], connected = 1, joined_ms = ARGV[5], dropped_ms = '0',
  resume_token = '', attention = 'idle', recording_id = ARGV[1]}
local rec_json = cjson.encode(rec)
redis.call('HSET', KEYS[2], tostring(slot), rec_json)
return {'ok', rec_json}
