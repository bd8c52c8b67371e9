--[[
  Rebuild a stream from its live entries, so that entries removed by XDEL are gone from memory
  (and from the next AOF rewrite or RDB snapshot). XDEL only flags an entry as deleted inside
  its listpack node; the node, flagged entries included, is kept while any entry of it lives.
  Everything a reader depends on is kept: entry ids and fields, the last generated id, the
  added / max-deleted counters, every consumer group with its last delivered id and entries
  read, its consumers, and each pending entry with its consumer, idle time and delivery count.
  One script, so no XADD, XREADGROUP or XACK runs in between.

  KEYS[1]  the stream
  ARGV[1]  the most entries to rebuild: a longer stream is left alone

  Returns: the number of live entries rewritten, or -1 when the stream is longer than ARGV[1]
           (nothing changed), or 0 when the key does not exist.
]]
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then
  return 0
end
if redis.call('XLEN', key) > tonumber(ARGV[1]) then
  return -1
end

local function map(flat)
  local m = {}
  for i = 1, #flat, 2 do
    m[flat[i]] = flat[i + 1]
  end
  return m
end

local info = map(redis.call('XINFO', 'STREAM', key))
local entries = redis.call('XRANGE', key, '-', '+')
local groups = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local gm = map(g)
  local consumers = {}
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, gm['name'])) do
    consumers[#consumers + 1] = map(c)['name']
  end
  local pending = {}
  if tonumber(gm['pending']) > 0 then
    pending = redis.call('XPENDING', key, gm['name'], '-', '+', gm['pending'])
  end
  groups[#groups + 1] = { name = gm['name'], last = gm['last-delivered-id'], read = gm['entries-read'], consumers = consumers, pending = pending }
end
local pttl = redis.call('PTTL', key)

redis.call('DEL', key)
for _, e in ipairs(entries) do
  redis.call('XADD', key, e[1], unpack(e[2]))
end
if #entries == 0 then
  -- An empty stream still exists (its last id and groups matter): create it without an entry.
  redis.call('XGROUP', 'CREATE', key, '__compact__', '0', 'MKSTREAM')
  redis.call('XGROUP', 'DESTROY', key, '__compact__')
end
redis.call('XSETID', key, info['last-generated-id'], 'ENTRIESADDED', info['entries-added'], 'MAXDELETEDID', info['max-deleted-entry-id'])
for _, g in ipairs(groups) do
  if g.read then
    redis.call('XGROUP', 'CREATE', key, g.name, g.last, 'ENTRIESREAD', g.read)
  else
    redis.call('XGROUP', 'CREATE', key, g.name, g.last)
  end
  for _, c in ipairs(g.consumers) do
    redis.call('XGROUP', 'CREATECONSUMER', key, g.name, c)
  end
  -- FORCE recreates the pending entry; entries no longer in the stream are skipped by XCLAIM.
  for _, p in ipairs(g.pending) do
    redis.call('XCLAIM', key, g.name, p[2], 0, p[1], 'IDLE', p[3], 'RETRYCOUNT', p[4], 'FORCE', 'JUSTID')
  end
end
if pttl > 0 then
  redis.call('PEXPIRE', key, pttl)
end
return #entries
