-- Applies one chunk's count changes to one time bucket exactly once, however
-- often the chunk is retried: the marker and the counts live in the bucket's
-- hash slot, so setting one and changing the other is a single atomic step.
--
-- KEYS[1]: the marker of this chunk in this bucket
-- KEYS[2..]: the bucket's count hash, one per resolution
-- ARGV[1]: how long the bucket is still read (seconds: relative, since a
-- time of the caller's clock may be in Redis's past)
-- then for each count hash: n, followed by n pairs of cell, change
-- Returns 1 if applied now, 0 if an earlier attempt had applied it.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local i = 2
for k = 2, #KEYS do
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  if n > 0 then
    redis.call('EXPIRE', KEYS[k], ARGV[1])
  end
end
return 1
