-- A dead node's members drop and its spectators go (the reaper, game_server.node_presence):
-- its live members still marked connected become dropped now, so their slots wait out the
-- resume window (a member who resumed on another node meanwhile has another node_id and is
-- untouched); its spectator entries are removed.
-- KEYS[1] members hash, KEYS[2] spectators hash
-- ARGV[1] the dead node's id, ARGV[2] now_ms
-- Returns {spectators removed, member record JSON as it was before...}
local dropped = {0}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local rec = cjson.decode(flat[i + 1])
  if rec.kind == 'live' and rec.node_id == ARGV[1] and rec.connected == 1 then
    rec.connected = 0
    rec.dropped_ms = ARGV[2]
    redis.call('HSET', KEYS[1], flat[i], cjson.encode(rec))
    dropped[#dropped + 1] = flat[i + 1]
  end
end
local specs = redis.call('HGETALL', KEYS[2])
for i = 1, #specs, 2 do
  if cjson.decode(specs[i + 1]).node_id == ARGV[1] then
    redis.call('HDEL', KEYS[2], specs[i])
    dropped[1] = dropped[1] + 1
  end
end
return dropped
