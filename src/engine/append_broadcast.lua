-- Appends one broadcast and announces it, in one atomic step: the seq is
-- taken, the message stored and published together, so every node's feed
-- sees messages in seq order.
--
-- ARGV: prefix, id, body, retention_secs, max_kept
local prefix, id, body, retention, max_kept = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local seq = redis.call('INCR', prefix .. 'broadcast:seq')
local key = prefix .. 'broadcast:' .. id
redis.call('HSET', key, 'seq', seq, 'body', body)
redis.call('EXPIRE', key, retention)
local log = prefix .. 'broadcasts'
redis.call('ZADD', log, seq, id)
redis.call('ZREMRANGEBYRANK', log, 0, -(max_kept + 1))
redis.call('EXPIRE', log, retention)
redis.call('PUBLISH', prefix .. 'broadcasts', seq .. '\n' .. id .. '\n' .. body)
return seq
