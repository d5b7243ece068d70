-- Replaces a stored report only if it is still what the caller read, and
-- announces the new body on the reports stream in the same step: concurrent
-- moderations of one report then happen one after the other, and each node's
-- feed sees them in that order. The report and the stream share the
-- {reports} slot.
--
-- KEYS[1]: the report   KEYS[2]: the reports stream
-- ARGV[1]: the body the caller read   ARGV[2]: the new body
-- ARGV[3]: how long the stream is kept (seconds)   ARGV[4]: its entries kept at most
-- Returns 1 if replaced, 0 if the report was gone or had changed.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'body', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
