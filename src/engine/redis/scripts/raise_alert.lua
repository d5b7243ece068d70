-- Raises an alert once per quiet period, deployment-wide: the quiet key and
-- the stream share the {alerts} slot, so the check and the announcement are
-- one atomic step whichever node detects the alert first. The caller's
-- clock decides (as in the memory engine); the key's expiry only cleans up.
-- Expiries are relative (the caller's quiet period, the retention), never at
-- a time of the caller's clock: a caller behind Redis's clock would
-- otherwise set them in the past, the quiet key would vanish at once, and
-- the same alert would be raised again on every cycle.
--
-- KEYS[1]: the alert's quiet key   KEYS[2]: the alerts stream
-- KEYS[3]: the raised alerts by time, which a lagging feed re-reads
-- ARGV[1]: now (Unix seconds)   ARGV[2]: when the quiet period ends
-- ARGV[3]: the alert   ARGV[4]: how long raised alerts are kept (seconds)
-- Returns 1 if raised now, 0 if one was raised within the quiet period.
local quiet_until = tonumber(redis.call('GET', KEYS[1]))
if quiet_until and quiet_until > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', math.max(1, tonumber(ARGV[2]) - tonumber(ARGV[1])))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'body', ARGV[3])
redis.call('EXPIRE', KEYS[2], 86400)
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[4])))
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
