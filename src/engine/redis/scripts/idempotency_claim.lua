-- Claims an idempotency slot for one attempt of a request. A claim that
-- finds its own token was run twice by the client's reconnect-and-resend:
-- it is still this attempt's lease.
--
-- KEYS[1]: the slot (a hash)
-- ARGV: body hash, token, now (ms), lease end (ms), how long the slot is kept
-- (ms). The caller's clock decides the lease; the slot's expiry is relative,
-- so that a caller behind Redis's clock does not set it in the past and lose
-- the slot (and its lease) at once.
-- Returns {'fresh', first_at}, {'answered', status, body}, {'in_flight'}
-- or {'mismatch'}.
local v = redis.call('HMGET', KEYS[1], 'hash', 'status', 'body', 'lease_until', 'first_at', 'token')
if not v[1] then
  redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'first_at', ARGV[3], 'token', ARGV[2], 'lease_until', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'fresh', ARGV[3]}
end
if v[1] ~= ARGV[1] then return {'mismatch'} end
if v[2] then return {'answered', v[2], v[3]} end
if v[6] == ARGV[2] then return {'fresh', v[5]} end
if v[4] and tonumber(v[4]) > tonumber(ARGV[3]) then return {'in_flight'} end
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'lease_until', ARGV[4])
return {'fresh', v[5]}
