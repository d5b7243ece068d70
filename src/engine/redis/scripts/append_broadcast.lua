-- Appends one broadcast and announces it, in one atomic step: the seq is
-- taken, the message stored and published together, so every node's feed
-- sees messages in seq order. Every key shares the `{broadcasts}` hash tag.
--
-- A missing seq counter means the log was lost (a FLUSHALL, a restart
-- without persistence): numbering starts again from 1 under a new epoch, so
-- that a subscriber holding an old position can tell. A counter without an
-- epoch (data written before epochs existed) keeps its log and takes the
-- new epoch from here on.
--
-- KEYS: seq counter, log (sorted set), message hash, epoch
-- ARGV: id, body, when it leaves the log (Unix seconds: the caller's now
-- plus the retention), max_kept, channel, a fresh epoch
--
-- Unlike the other stores' expiries this one stays absolute: it is how a
-- message's retention is measured from when it was sent, and a retention
-- is long (the broadcast's whole life), far beyond any clock difference
-- between nodes and Redis.
local id, body, expires_at, max_kept, channel = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local epoch = redis.call('GET', KEYS[4])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  epoch = false
end
if not epoch then
  epoch = ARGV[6]
  redis.call('SET', KEYS[4], epoch)
end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[3], 'seq', seq, 'epoch', epoch, 'body', body)
redis.call('EXPIREAT', KEYS[3], expires_at)
redis.call('ZADD', KEYS[2], seq, id)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(max_kept + 1))
redis.call('EXPIREAT', KEYS[2], expires_at)
redis.call('PUBLISH', channel, seq .. '\n' .. epoch .. '\n' .. id .. '\n' .. body)
return seq
