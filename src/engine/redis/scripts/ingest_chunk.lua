-- Counts one attempt at one chunk in one time bucket and the replay step
-- holding it. The attempt's marker, the chunk's marker and the counts share
-- the step's hash slot, so checking the markers and changing the counts is
-- one atomic step.
--
-- The posts with ids were claimed for this attempt (their `seen:` keys name
-- it), and count only while the attempt's marker is still pending: another
-- request that found the attempt silent has fenced the marker, or it ran
-- out, and has then taken those posts over. Posts without an id count once
-- per chunk, however often the chunk is tried (the client's retries under
-- its Idempotency-Key).
--
-- KEYS[1]: the attempt's marker in this bucket ('p' while pending)
-- KEYS[2]: the chunk's marker in this bucket
-- KEYS[3..2+n]: the bucket's count hash, one per resolution
-- KEYS[3+n..2+2n]: the step's count hash, one per resolution, same order
-- ARGV[1]: how long the markers are kept, ARGV[2]: how long the bucket is
-- still read, ARGV[3]: how long the step is kept (seconds: relative, since
-- a time of the caller's clock may be in Redis's past)
-- then for each resolution: the claimed posts' changes (n, then n pairs of
-- cell, change), then the chunk's posts without id (likewise)
-- Returns -1 and changes nothing if the attempt's marker is not pending;
-- else 1 if the posts without id were counted now, 0 if an earlier attempt
-- had counted them.
if redis.call('GET', KEYS[1]) ~= 'p' then
  return -1
end
local anonymous = redis.call('EXISTS', KEYS[2]) == 0
local resolutions = (#KEYS - 2) / 2
local i = 4
for k = 1, resolutions do
  local bucket = KEYS[2 + k]
  local step = KEYS[2 + resolutions + k]
  local changed = false
  for group = 1, 2 do
    local n = tonumber(ARGV[i])
    i = i + 1
    local apply = group == 1 or anonymous
    for _ = 1, n do
      if apply then
        redis.call('HINCRBY', bucket, ARGV[i], ARGV[i + 1])
        redis.call('HINCRBY', step, ARGV[i], ARGV[i + 1])
        changed = true
      end
      i = i + 2
    end
  end
  if changed then
    redis.call('EXPIRE', bucket, ARGV[2])
    redis.call('EXPIRE', step, ARGV[3])
  end
end
-- Marked last: a script stopped before here (a refused command) has
-- counted nothing, and its posts are taken over like any cut-off attempt's.
redis.call('SET', KEYS[1], 'd', 'EX', ARGV[1])
if anonymous then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
  return 1
end
return 0
