-- Join a room as a member: one slot per user, capacity enforced, atomic.
-- KEYS[1] meta hash, KEYS[2] members hash (slot -> record JSON), KEYS[3] users hash
--   (user_id -> slot), KEYS[4] the user's membership key (room id the user is a member of)
-- ARGV[1] user_id, ARGV[2] display_name, ARGV[3] sid, ARGV[4] node_id, ARGV[5] now_ms,
--   ARGV[6] resume window ms, ARGV[7] new resume token, ARGV[8] presented resume token or '',
--   ARGV[9] the other room the caller has released ('' if none), ARGV[10] this room's id
-- Returns {status, slot, join_kind, old_sid, record_json, evicted_json...} or
--   {'busy', other_room_id} when the membership key names another room (not ARGV[9]):
--   the caller frees the user's slot there and retries with ARGV[9] = that room.
--   status: 'ok' | 'no_room' | 'room_full' | 'busy'
--   join_kind: 'joined' (new slot) | 'resumed' (presented token matched) |
--     'rejoined' (same user's kept slot, no matching token); old_sid is the sid that held
--     the slot while still connected ('' if none): the caller disconnects it.
local capacity = tonumber(redis.call('HGET', KEYS[1], 'capacity'))
if not capacity then return {'no_room'} end
local member_of = redis.call('GET', KEYS[4])
if member_of and member_of ~= ARGV[10] and member_of ~= ARGV[9] then
  return {'busy', member_of}
end
local now_ms = tonumber(ARGV[5])
local evicted = evict_expired(KEYS[2], KEYS[3], now_ms, tonumber(ARGV[6]))

local function reply(slot, kind, old_sid, rec_json)
  redis.call('SET', KEYS[4], ARGV[10])
  local out = {'ok', slot, kind, old_sid, rec_json}
  for _, e in ipairs(evicted) do out[#out + 1] = e end
  return out
end

local held = redis.call('HGET', KEYS[3], ARGV[1])
if held then
  local rec = cjson.decode(redis.call('HGET', KEYS[2], held))
  local kind = 'rejoined'
  if ARGV[8] ~= '' and rec.resume_token == ARGV[8] then kind = 'resumed' end
  local old_sid = ''
  if rec.connected == 1 and rec.sid ~= ARGV[3] then old_sid = rec.sid end
  rec.sid = ARGV[3]
  rec.node_id = ARGV[4]
  rec.display_name = ARGV[2]
  rec.connected = 1
  rec.dropped_ms = '0'
  rec.resume_token = ARGV[7]
  rec.attention = 'idle'  -- a new connection earns its attention from its own frames
  local rec_json = cjson.encode(rec)
  redis.call('HSET', KEYS[2], held, rec_json)
  return reply(tonumber(held), kind, old_sid, rec_json)
end

if redis.call('HLEN', KEYS[2]) >= capacity then return {'room_full'} end
local slot = 0
while redis.call('HEXISTS', KEYS[2], tostring(slot)) == 1 do slot = slot + 1 end
local rec = {slot = slot, user_id = ARGV[1], display_name = ARGV[2], kind = 'live',
  sid = ARGV[3], node_id = ARGV[4], connected = 1, joined_ms = ARGV[5], dropped_ms = '0',
  resume_token = ARGV[7], attention = 'idle'}
local rec_json = cjson.encode(rec)
redis.call('HSET', KEYS[2], tostring(slot), rec_json)
redis.call('HSET', KEYS[3], ARGV[1], tostring(slot))
return reply(slot, 'joined', '', rec_json)
