-- Shared helpers, prepended to every script by rooms.scripts (not a script of its own).

-- Remove members that dropped more than window_ms ago; returns their records (JSON).
local function evict_expired(members_key, users_key, now_ms, window_ms)
  local evicted = {}
  local flat = redis.call('HGETALL', members_key)
  for i = 1, #flat, 2 do
    local rec = cjson.decode(flat[i + 1])
    if rec.connected == 0 and tonumber(rec.dropped_ms) + window_ms <= now_ms then
      redis.call('HDEL', members_key, flat[i])
      if redis.call('HGET', users_key, rec.user_id) == flat[i] then
        redis.call('HDEL', users_key, rec.user_id)
      end
      evicted[#evicted + 1] = flat[i + 1]
    end
  end
  return evicted
end
