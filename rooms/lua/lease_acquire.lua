-- Acquire or renew the lease on ticking a room; a new holder gets the next fencing number.
-- KEYS[1] lease (string 'node_id:fence', PX ttl), KEYS[2] fence counter
-- ARGV[1] node_id, ARGV[2] ttl_ms
-- Returns {fence, status}: status 'acquired' (fence is new), 'renewed' (this node already
--   held it; TTL reset) or 'held' (another node holds it; fence 0).
local cur = redis.call('GET', KEYS[1])
if cur then
  local node, fence = string.match(cur, '^(.*):(%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {tonumber(fence), 'renewed'}
  end
  return {0, 'held'}
end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
return {fence, 'acquired'}
