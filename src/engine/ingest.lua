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

local accepted, duplicates = 0, 0
local bucket_expiry = {}
local touched = {}
local i = 6 + nres
local n = #ARGV
while i <= n do
  local dedup, contributor, bucket, expires_at = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
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
        redis.call('HINCRBY', counts, cell, 1)
        bucket_expiry[counts] = expires_at
        local last = prefix .. 'last:' .. cell
        redis.call('ZADD', last, 'GT', bucket, contributor)
        touched[last] = true
      end
    end
  else
    duplicates = duplicates + 1
  end
  i = i + 4 + nres
end

for key, at in pairs(bucket_expiry) do redis.call('EXPIREAT', key, at) end
for key in pairs(touched) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. oldest)
  redis.call('EXPIRE', key, contributor_ttl)
end
return {accepted, duplicates}
