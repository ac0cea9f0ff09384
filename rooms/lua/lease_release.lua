-- Give a room's lease up, only if the caller still holds it under the same fence.
-- KEYS[1] lease
-- ARGV[1] 'node_id:fence' as acquired
-- Returns 1 if released, 0 if the lease had passed to someone else or expired.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
