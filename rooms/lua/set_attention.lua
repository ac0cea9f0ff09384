-- Record a member's attention state, only if the sid still holds the slot.
-- KEYS[1] members hash
-- ARGV[1] slot, ARGV[2] sid, ARGV[3] attention, ARGV[4] since_ms
-- Returns 1 if written, 0 if the slot is gone or held by another connection.
local rec_json = redis.call('HGET', KEYS[1], ARGV[1])
if not rec_json then return 0 end
local rec = cjson.decode(rec_json)
if rec.sid ~= ARGV[2] then return 0 end
rec.attention = ARGV[3]
rec.attention_since_ms = ARGV[4]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
