-- Moves a post id's claim from an attempt that will never count it to
-- another, only if the claim is still the one the caller read: of two
-- requests taking one post over, one wins.
--
-- KEYS[1]: the post's `seen:` key
-- ARGV[1]: the claim read, ARGV[2]: the new claim, ARGV[3]: how long it is kept
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
