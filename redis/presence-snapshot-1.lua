--[[
  A consistent picture of an account's presence (or of one page) with the sequence number of
  the last diff it includes: a feed sends it first, then only diffs with a higher number.

  KEYS[1]   the account's presence prefix (see includes/presence-core.lua)
  ARGV[1]   page path, or '' for the whole site
  ARGV[2]   at most this many visitors (most recent activity first; 0 = none)
  ARGV[3]   at most this many pages (most visitors first; 0 = none)
  ARGV[4]   the page's own segment ('' when none; page scope only)

  Returns: JSON { seq, online, auth, npages, pages: list of (path, visitors, authenticated),
           segs: list of (segment, visitors, cross-segment), visitors: list of views }.
]]
-- @include "presence-core"

presence_init(KEYS[1], '', 0)
local page, vlimit, plimit, page_seg = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local out = { seq = tonumber(redis.call('GET', k('seq')) or 0), npages = redis.call('ZCARD', k('pages')) }

local ids = {}
local segs = {}
if page == '' then
  out.online = redis.call('ZCARD', k('online'))
  out.auth = redis.call('SCARD', k('auth'))
  if vlimit > 0 then ids = redis.call('ZREVRANGE', k('online'), 0, vlimit - 1) end
  local n = redis.call('HGETALL', k('seg'))
  for i = 1, #n, 2 do
    segs[#segs + 1] = { n[i], tonumber(n[i + 1]), tonumber(redis.call('HGET', k('xseg'), n[i]) or 0) }
  end
else
  out.online = redis.call('ZCARD', pagekey(page))
  out.auth = tonumber(redis.call('ZSCORE', k('pagesauth'), page) or 0)
  local all = redis.call('ZREVRANGE', pagekey(page), 0, -1)
  local by = {}
  for i, vid in ipairs(all) do
    if i <= vlimit then ids[#ids + 1] = vid end
    local seg = redis.call('HGET', vkey(vid), 'seg')
    if seg and seg ~= '' then
      local e = by[seg]
      if not e then
        e = { seg, 0, 0 }
        by[seg] = e
        segs[#segs + 1] = e
      end
      e[2] = e[2] + 1
      if page_seg ~= '' and seg ~= page_seg then e[3] = e[3] + 1 end
    end
  end
end
out.segs = segs

local pages = {}
if plimit > 0 then
  local top = redis.call('ZREVRANGE', k('pages'), 0, plimit - 1, 'WITHSCORES')
  for i = 1, #top, 2 do
    pages[#pages + 1] = { top[i], tonumber(top[i + 1]), tonumber(redis.call('ZSCORE', k('pagesauth'), top[i]) or 0) }
  end
end
out.pages = pages

local visitors = {}
for _, vid in ipairs(ids) do
  visitors[#visitors + 1] = view_of(vid, details_of(vid), tabs_of(vid))
end
out.visitors = visitors
return cjson.encode(out)
