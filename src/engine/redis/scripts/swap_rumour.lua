-- Replaces a stored rumour entry only if it is still what the caller read,
-- and marks it written now in the index, in one step: concurrent changes of
-- one entry then happen one after the other. The entry and the index share
-- the {rumours} slot.
--
-- KEYS[1]: the entry   KEYS[2]: the index (id by last write)
-- ARGV[1]: the body the caller read   ARGV[2]: the new body
-- ARGV[3]: retention (seconds)   ARGV[4]: now (Unix seconds)   ARGV[5]: the id
-- Returns 1 if replaced, 0 if the entry was gone or had changed.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local expires = tonumber(ARGV[4]) + tonumber(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('EXPIREAT', KEYS[1], expires)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(ARGV[4]) - tonumber(ARGV[3])))
redis.call('EXPIREAT', KEYS[2], expires)
return 1
