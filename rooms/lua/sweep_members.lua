-- Free the slots of members whose resume window has passed.
-- KEYS[1] members hash, KEYS[2] users hash
-- ARGV[1] now_ms, ARGV[2] resume window ms
-- Returns the evicted member records (JSON), possibly empty.
return evict_expired(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
