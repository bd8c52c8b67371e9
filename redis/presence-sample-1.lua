--[[
  Take a concurrency sample: current counts and the highest online count since the previous
  sample (tracked at every join, so a peak between two samples is not missed); then start the
  next interval's high-water mark at the current count.

  KEYS[1]   the account's presence prefix (see includes/presence-core.lua)

  Returns: { online, authenticated, peak since the previous sample, cross-segment visitors }.
]]
-- @include "presence-core"

presence_init(KEYS[1], '', 0)
local online = redis.call('ZCARD', k('online'))
local auth = redis.call('SCARD', k('auth'))
local hwm = tonumber(redis.call('GET', k('hwm')) or 0)
if online > hwm then hwm = online end
redis.call('SET', k('hwm'), online)
local cross = 0
for _, n in ipairs(redis.call('HVALS', k('xseg'))) do cross = cross + tonumber(n) end
return { online, auth, hwm, cross }
