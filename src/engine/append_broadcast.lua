-- Appends one broadcast and announces it, in one atomic step: the seq is
-- taken, the message stored and published together, so every node's feed
-- sees messages in seq order. Every key shares the `{broadcasts}` hash tag.
--
-- KEYS: seq counter, log (sorted set), message hash
-- ARGV: id, body, retention_secs, max_kept, channel
local id, body, retention, max_kept, channel = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[3], 'seq', seq, 'body', body)
redis.call('EXPIRE', KEYS[3], retention)
redis.call('ZADD', KEYS[2], seq, id)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(max_kept + 1))
redis.call('EXPIRE', KEYS[2], retention)
redis.call('PUBLISH', channel, seq .. '\n' .. id .. '\n' .. body)
return seq
