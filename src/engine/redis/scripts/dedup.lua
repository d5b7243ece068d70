-- The post ids seen within retention, for one tag (a fixed share of all
-- ids, in one hash slot), kept in small hashes so that Redis stores each
-- as a few bytes of a listpack instead of a key of its own.
--
-- Layout. Time is cut into epochs of ARGV[3] seconds, numbered by the
-- second they started (Redis's clock: one clock per tag, none compared).
-- An id is written into the current epoch only, and looked up in every
-- epoch that may still hold an id seen within retention. Within an epoch
-- the ids spread over sub-hashes by linear hashing: the epoch starts with
-- one, and whenever the ids outnumber ARGV[4] per sub-hash, the next one in
-- turn splits in two. Each sub-hash stays small enough to be a listpack,
-- whatever the rate, and there are only as many as the ids need.
--
-- KEYS[1]: the tag's epochs (hash): epoch start → "level split count"
-- ARGV[1]: the prefix of the tag's sub-hashes ("<prefix>seen:{t<tag>}:")
-- ARGV[2]: retention, ARGV[3]: epoch length, ARGV[4]: ids per sub-hash (seconds, seconds, count)
-- ARGV[5]: 'claim' or 'take'
-- claim: then pairs of (id, claim). Each id not held within retention is
--   claimed: answers false for it; else answers the claim that holds it.
-- take: then triples of (id, claim read, new claim). Each claim still the
--   one read is replaced by the new one: answers 1, else 0.
local now = tonumber(redis.call('TIME')[1])
local retention = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local per_hash = tonumber(ARGV[4])
local mode = ARGV[5]

local epochs = {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do
  local start = tonumber(raw[i])
  local level, split, count = string.match(raw[i + 1], '^(%d+) (%d+) (%d+)$')
  if start + period + retention > now then
    table.insert(epochs, {start = start, level = tonumber(level), split = tonumber(split), count = tonumber(count)})
  else
    redis.call('HDEL', KEYS[1], raw[i])
  end
end
table.sort(epochs, function(a, b) return a.start > b.start end)

local function hash(id)
  return tonumber(string.sub(redis.sha1hex(id), 1, 8), 16)
end

local function address(epoch, h)
  local base = 2 ^ epoch.level
  local a = h % base
  if a < epoch.split then
    a = h % (2 * base)
  end
  return a
end

local function sub_hash(epoch, a)
  return ARGV[1] .. epoch.start .. ':' .. a
end

-- The sub-hash holding id in some live epoch, and its claim; nil if none.
local function find(id)
  local h = hash(id)
  for _, epoch in ipairs(epochs) do
    local key = sub_hash(epoch, address(epoch, h))
    local held = redis.call('HGET', key, id)
    if held then
      return key, held
    end
  end
  return nil
end

if mode == 'take' then
  local answers = {}
  for i = 6, #ARGV, 3 do
    local key, held = find(ARGV[i])
    if key and held == ARGV[i + 1] then
      redis.call('HSET', key, ARGV[i], ARGV[i + 2])
      table.insert(answers, 1)
    else
      table.insert(answers, 0)
    end
  end
  return answers
end

local current = epochs[1]
if current == nil or now - current.start >= period then
  current = {start = now, level = 0, split = 0, count = 0}
  if epochs[1] ~= nil and epochs[1].start >= now then
    -- A clock stepped back: keep writing the newest epoch rather than
    -- start one older than it.
    current = epochs[1]
  else
    table.insert(epochs, 1, current)
  end
end
local expires_at = current.start + period + retention

-- Splits the next sub-hash in turn: the ids whose address one level down
-- is the new sub-hash move there.
local function split(epoch)
  local from = epoch.split
  local to = from + 2 ^ epoch.level
  local source = sub_hash(epoch, from)
  local entries = redis.call('HGETALL', source)
  local moved, gone = {}, {}
  for j = 1, #entries, 2 do
    if hash(entries[j]) % (2 ^ (epoch.level + 1)) ~= from then
      table.insert(moved, entries[j])
      table.insert(moved, entries[j + 1])
      table.insert(gone, entries[j])
    end
  end
  if #gone > 0 then
    local target = sub_hash(epoch, to)
    redis.call('HSET', target, unpack(moved))
    redis.call('EXPIREAT', target, expires_at)
    redis.call('HDEL', source, unpack(gone))
  end
  epoch.split = epoch.split + 1
  if epoch.split == 2 ^ epoch.level then
    epoch.level = epoch.level + 1
    epoch.split = 0
  end
end

local answers = {}
for i = 6, #ARGV, 2 do
  local _, held = find(ARGV[i])
  if held then
    table.insert(answers, held)
  else
    local key = sub_hash(current, address(current, hash(ARGV[i])))
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
    redis.call('EXPIREAT', key, expires_at)
    current.count = current.count + 1
    if current.count > per_hash * (2 ^ current.level + current.split) then
      split(current)
    end
    table.insert(answers, false)
  end
end
redis.call('HSET', KEYS[1], current.start,
  string.format('%d %d %d', current.level, current.split, current.count))
redis.call('EXPIREAT', KEYS[1], expires_at)
return answers
