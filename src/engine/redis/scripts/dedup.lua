-- The post ids seen within retention, for one tag (a fixed share of all
-- ids, in one hash slot), kept in small hashes so that Redis stores each
-- as a few bytes of a listpack instead of a key of its own.
--
-- Each id comes with four bytes of its hash in front, which place it among
-- the sub-hashes: the script never hashes.
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
-- Every sub-hash expires a retention after its epoch's end. The expiry is
-- set once, when the sub-hash comes to be: a split moves ids into it, or an
-- id goes to an address that holds none yet (an epoch's first, or one a
-- split left empty: the "bare" addresses the epoch keeps a list of).
--
-- KEYS[1]: the tag's epochs (hash): epoch start → "level split count bare,…"
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
  local level, split, count, bare = string.match(raw[i + 1], '^(%d+) (%d+) (%d+) ?([%d,]*)$')
  if start + period + retention > now then
    local epoch = {start = start, level = tonumber(level), base = 2 ^ tonumber(level), split = tonumber(split),
      count = tonumber(count), prefix = ARGV[1] .. raw[i] .. ':', bare = {}}
    for a in string.gmatch(bare or '', '%d+') do
      epoch.bare[tonumber(a)] = true
    end
    table.insert(epochs, epoch)
  else
    redis.call('HDEL', KEYS[1], raw[i])
  end
end
table.sort(epochs, function(a, b) return a.start > b.start end)

local function hash(id)
  local a, b, c, d = string.byte(id, 1, 4)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- The sub-hash of an id whose hash is h, by linear hashing, and its address.
local function sub_hash(epoch, h)
  local a = h % epoch.base
  if a < epoch.split then
    a = h % (2 * epoch.base)
  end
  return epoch.prefix .. a, a
end

-- The sub-hash holding id (whose hash is h) in a live epoch from the
-- first-th newest on, and its claim; nil if none.
local function find(id, h, first)
  for n = first, #epochs do
    local epoch = epochs[n]
    local key = sub_hash(epoch, h)
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
    local key, held = find(ARGV[i], hash(ARGV[i]), 1)
    if key and held == ARGV[i + 1] then
      redis.call('HSET', key, ARGV[i], ARGV[i + 2])
      table.insert(answers, 1)
    else
      table.insert(answers, 0)
    end
  end
  return answers
end

-- The newest epoch is written until it is a period old (a clock stepped
-- back only writes it longer).
local current = epochs[1]
if current == nil or now - current.start >= period then
  current = {start = now, level = 0, base = 1, split = 0, count = 0, prefix = ARGV[1] .. now .. ':', bare = {[0] = true}}
  table.insert(epochs, 1, current)
end
local expires_at = current.start + period + retention

-- Splits the next sub-hash in turn: the ids whose address one level down
-- is the new sub-hash move there. An address left without ids is bare.
local function split(epoch)
  local from = epoch.split
  local to = from + epoch.base
  local source = epoch.prefix .. from
  local entries = redis.call('HGETALL', source)
  local moved, gone = {}, {}
  for j = 1, #entries, 2 do
    if hash(entries[j]) % (2 * epoch.base) ~= from then
      table.insert(moved, entries[j])
      table.insert(moved, entries[j + 1])
      table.insert(gone, entries[j])
    end
  end
  if #gone > 0 then
    local target = epoch.prefix .. to
    redis.call('HSET', target, unpack(moved))
    redis.call('EXPIREAT', target, expires_at)
    redis.call('HDEL', source, unpack(gone))
  else
    epoch.bare[to] = true
  end
  if 2 * #gone == #entries then
    epoch.bare[from] = true
  end
  epoch.split = epoch.split + 1
  if epoch.split == epoch.base then
    epoch.level = epoch.level + 1
    epoch.base = 2 * epoch.base
    epoch.split = 0
  end
end

-- An id is looked for in the older epochs, then set in the current one
-- unless it is there already: one command for the usual new id.
local answers = {}
for i = 6, #ARGV, 2 do
  local id, claim = ARGV[i], ARGV[i + 1]
  local h = hash(id)
  local _, held = find(id, h, 2)
  if not held then
    local key, a = sub_hash(current, h)
    if redis.call('HSETNX', key, id, claim) == 1 then
      if current.bare[a] then
        current.bare[a] = nil
        redis.call('EXPIREAT', key, expires_at)
      end
      current.count = current.count + 1
      if current.count > per_hash * (current.base + current.split) then
        split(current)
      end
    else
      held = redis.call('HGET', key, id)
    end
  end
  table.insert(answers, held or false)
end
local bare = {}
for a in pairs(current.bare) do
  table.insert(bare, string.format('%d', a))
end
redis.call('HSET', KEYS[1], current.start,
  string.format('%d %d %d %s', current.level, current.split, current.count, table.concat(bare, ',')))
redis.call('EXPIREAT', KEYS[1], expires_at)
return answers
