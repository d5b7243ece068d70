-- Applies one chunk's count changes to one time bucket, and to the replay
-- step holding it, exactly once however often the chunk is retried: the
-- marker, the bucket's counts and the step's counts share the step's hash
-- slot, so setting one and changing the others is a single atomic step.
--
-- KEYS[1]: the marker of this chunk in this bucket
-- KEYS[2..1+n]: the bucket's count hash, one per resolution
-- KEYS[2+n..1+2n]: the step's count hash, one per resolution, same order
-- ARGV[1]: how long the marker is kept, ARGV[2]: how long the bucket is
-- still read, ARGV[3]: how long the step is kept (seconds: relative, since
-- a time of the caller's clock may be in Redis's past)
-- then for each resolution: n, followed by n pairs of cell, change
-- Returns 1 if applied now, 0 if an earlier attempt had applied it.
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
local resolutions = (#KEYS - 1) / 2
local i = 4
for k = 1, resolutions do
  local bucket = KEYS[1 + k]
  local step = KEYS[1 + resolutions + k]
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('HINCRBY', bucket, ARGV[i], ARGV[i + 1])
    redis.call('HINCRBY', step, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  if n > 0 then
    redis.call('EXPIRE', bucket, ARGV[2])
    redis.call('EXPIRE', step, ARGV[3])
  end
end
return 1
