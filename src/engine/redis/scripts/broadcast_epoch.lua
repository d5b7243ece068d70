-- The broadcast log's current epoch, started here if the log has none yet
-- or was lost, by the same rule as append_broadcast.lua: the next append
-- then carries the epoch returned. The seq counter is created at 0, so that
-- that append does not take the log for lost. Every key shares the
-- `{broadcasts}` hash tag.
--
-- KEYS: seq counter, log (sorted set), epoch
-- ARGV: a fresh epoch
local epoch = redis.call('GET', KEYS[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], 0)
  epoch = false
end
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[3], epoch)
end
return epoch
