-- Join a room as a spectator (no slot, bounded count).
-- KEYS[1] meta hash, KEYS[2] spectators hash (sid -> record JSON)
-- ARGV[1] sid, ARGV[2] record JSON, ARGV[3] max spectators
-- Returns 'ok' | 'no_room' | 'room_full'
if redis.call('EXISTS', KEYS[1]) == 0 then return 'no_room' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0
   and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then
  return 'room_full'
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 'ok'
