-- Keeps a request's answer in its idempotency slot, unless another attempt
-- kept one first: the answer that stands is returned.
--
-- KEYS[1]: the slot (a hash)
-- ARGV: body hash, status, body, how long a new slot is kept (ms: relative,
-- as in idempotency_claim.lua)
-- Returns {status, body}.
local v = redis.call('HMGET', KEYS[1], 'hash', 'status', 'body')
if v[1] and v[1] ~= ARGV[1] then return {ARGV[2], ARGV[3]} end
if v[2] then return {v[2], v[3]} end
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'status', ARGV[2], 'body', ARGV[3])
redis.call('HDEL', KEYS[1], 'token', 'lease_until')
if not v[1] then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {ARGV[2], ARGV[3]}
