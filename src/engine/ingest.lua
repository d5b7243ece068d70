-- Stores one batch of bucketed posts atomically, so that a post is either
-- marked seen AND counted, or neither: a retried batch is never counted twice
-- and a crash mid-batch loses nothing that was acknowledged.
--
-- ARGV: prefix, dedup_ttl_secs, contributor_ttl_secs, oldest_useful_bucket,
--       n_res, res_1 .. res_n,
--       then per post: dedup_key ('' = none), contributor, bucket,
--       bucket_expires_at (0 = too old to count), cell_1 .. cell_n
-- Returns {accepted, duplicates}.
local prefix = ARGV[1]
local dedup_ttl = ARGV[2]
local contributor_ttl = ARGV[3]
local oldest = ARGV[4]
local nres = tonumber(ARGV[5])
local res = {}
for r = 1, nres do res[r] = ARGV[5 + r] end

-- Counts are summed per (bucket hash, cell) and contributors folded to their
-- latest bucket per cell before any write: a crowded batch touches each cell
-- once, not once per post.
local accepted, duplicates = 0, 0
local increments = {}   -- count key -> cell -> n
local expiry = {}       -- count key -> expire-at
local latest = {}       -- last key -> contributor -> bucket
local oldest_n = tonumber(oldest)
local i = 6 + nres
local n = #ARGV
while i <= n do
  local dedup, contributor, bucket, expires_at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local fresh = true
  if dedup ~= '' then
    fresh = redis.call('SET', prefix .. 'seen:' .. dedup, '1', 'NX', 'EX', dedup_ttl)
  end
  if fresh then
    accepted = accepted + 1
    if expires_at ~= '0' then
      for r = 1, nres do
        local cell = ARGV[i + 3 + r]
        local counts = prefix .. 'count:' .. res[r] .. ':' .. bucket
        local per_cell = increments[counts]
        if not per_cell then
          per_cell = {}
          increments[counts] = per_cell
          expiry[counts] = expires_at
        end
        per_cell[cell] = (per_cell[cell] or 0) + 1
        local last = prefix .. 'last:' .. cell
        local seen = latest[last]
        if not seen then
          seen = {}
          latest[last] = seen
        end
        if (seen[contributor] or oldest_n - 1) < bucket then
          seen[contributor] = bucket
        end
      end
    end
  else
    duplicates = duplicates + 1
  end
  i = i + 4 + nres
end

for key, per_cell in pairs(increments) do
  for cell, count in pairs(per_cell) do
    redis.call('HINCRBY', key, cell, count)
  end
  redis.call('EXPIREAT', key, expiry[key])
end
for key, seen in pairs(latest) do
  -- ZADD GT keeps a later bucket already stored by an earlier batch.
  local args, pairs_in_args = {}, 0
  for contributor, bucket in pairs(seen) do
    args[#args + 1] = bucket
    args[#args + 1] = contributor
    pairs_in_args = pairs_in_args + 1
    if pairs_in_args == 200 then
      redis.call('ZADD', key, 'GT', unpack(args))
      args, pairs_in_args = {}, 0
    end
  end
  if pairs_in_args > 0 then
    redis.call('ZADD', key, 'GT', unpack(args))
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. oldest)
  redis.call('EXPIRE', key, contributor_ttl)
end
return {accepted, duplicates}
