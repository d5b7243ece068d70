-- Gives up an attempt's lease on its idempotency slot, unless another
-- attempt has taken the lease since.
--
-- KEYS[1]: the slot (a hash)
-- ARGV: the attempt's token
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'token', 'lease_until')
end
return 0
