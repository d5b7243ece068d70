-- Appends a chunk's texts to the text log as one entry, once per chunk: a
-- chunk sent again (a retry after a failure or a timeout) finds its marker
-- and adds nothing.
-- KEYS[1] the chunk's marker, KEYS[2] the log (a stream)
-- ARGV[1] seconds to keep the marker, and the log after its last entry
-- ARGV[2] the oldest entry id (ms) to keep; older entries are trimmed
-- ARGV[3] the texts' bodies, in order, one a line
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
redis.call('XADD', KEYS[2], 'MINID', '~', ARGV[2], '*', 'b', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
