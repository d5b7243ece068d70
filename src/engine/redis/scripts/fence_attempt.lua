-- Fences an attempt at a chunk that stays pending: it can no longer count
-- anything in this bucket, so that another request may take its posts over.
--
-- KEYS[1]: the attempt's marker in one bucket
-- Returns the marker as it was: 'p' (now fenced), 'd' (it counted), or
-- anything else (nil, 'f': it never will).
local marker = redis.call('GET', KEYS[1])
if marker == 'p' then
  redis.call('SET', KEYS[1], 'f', 'KEEPTTL')
end
return marker
