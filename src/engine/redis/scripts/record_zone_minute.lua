-- Records a zone minute unless one for that minute exists: the first node
-- to read a minute writes it and every node draws its trend from it.
--
-- KEYS[1]: the window's minutes (sorted set, minute → record)
-- ARGV[1]: the minute (Unix seconds)   ARGV[2]: the record (JSON)
-- ARGV[3]: the oldest minute kept   ARGV[4]: how long the set is kept (seconds)
-- Returns 1 if recorded, 0 if the minute was there.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
local recorded = 0
if redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
  recorded = 1
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return recorded
