--[[
  Applying one accepted event to an account's presence (shared by ingest-commit.lua and
  presence-apply-1.lua). An event arrives as one ARGV string of 15 fields separated by the unit
  separator "\31" (presenceArg in src/domain/presence.rules.ts strips it from the text): one
  argument per event for the client to encode, and nothing to decode here.
]]
-- @include "presence-core"

local EVENT_FIELDS = 15
-- One match returns every field (a loop of finds and subs costs the script several times more).
local EVENT_PATTERN = '^' .. string.rep('([^\31]*)\31', EVENT_FIELDS - 1) .. '(.*)$'

-- The packed event: type, visitor, session, page path, title, ua family, device, person
-- ('' anonymous), visitor segment, page segment, event id, label, depth, listing, client ms.
local function read_event(packed)
  local f = { string.match(packed, EVENT_PATTERN) }
  return {
    t = f[1], v = f[2], s = f[3], p = f[4], ti = f[5], ua = f[6], dv = f[7], pe = f[8], sg = f[9], ps = f[10],
    id = f[11], lb = f[12], dp = tonumber(f[13]) or 0, ls = f[14], ts = tonumber(f[15]) or 0,
  }
end

-- Write a visitor's changed details (`set`: field, value, …). Only the times and the page views
-- moved: a refresh; anything else is replicated whole.
local function write_details(vid, set)
  if #set == 2 or (#set == 4 and set[3] == 'pv') then
    refresh('HSET', vkey(vid), unpack(set))
  else
    redis.call('HSET', vkey(vid), unpack(set))
  end
end

-- The `event` diff of any event but a heartbeat (every event a tab sends on its page).
local function event_diff(vid, ev)
  publish({ k = 'event', v = vid, e = { type = ev.t, path = ev.p, label = ev.lb, depth = ev.dp,
    listing = ev.ls, ts = ev.ts, id = ev.id } })
end

-- An event of a tab that is live and stays as it is (same page, segment, person; title kept or
-- equal) changes no count and no page: most events are these (heartbeats, and the clicks,
-- scrolls and reloads on the page a visitor is on). It refreshes deadlines and times; any other
-- event also adds its activity (and a page view its count) and takes its diffs, with the same
-- sequence numbers as the full path. O(1): the stored tab is compared by its bytes, never
-- decoded, and the visitor's other tabs are not read (one past its deadline is the sweeper's,
-- within PRESENCE_SWEEP_MS). Returns false to take the full path: when something would move,
-- and for a watched page view, whose `update` diff carries the visitor's whole view.
local function same_page_fast(ev, ttl, grace)
  local vid, sid = ev.v, ev.s
  local heartbeat, pageview = ev.t == 'heartbeat', ev.t == 'pageview'
  if pageview and S.watched then return false end
  local raw = redis.call('HGET', tkey(vid), sid)
  if not raw then return false end
  if ev.ti ~= '' then
    if raw ~= tab_encode('A', ev.p, ev.ps, ev.ti) then return false end
  else
    local head = '["A",' .. cjson.encode(ev.p) .. ',' .. cjson.encode(ev.ps) .. ','
    if string.sub(raw, 1, #head) ~= head then return false end
  end
  local member = vid .. '|' .. sid
  local deadline = redis.call('ZSCORE', k('tabs'), member)
  if not deadline or tonumber(deadline) <= S.now then return false end
  local d = redis.call('HMGET', vkey(vid), 'sid', 'person', 'seg', 'x', 'path', 'pseg', 'title', 'pv')
  if not d[1] then return false end
  if ev.pe ~= '' and ev.pe ~= d[2] then return false end
  if ev.sg ~= '' and ev.sg ~= d[3] then return false end
  if heartbeat then
    -- The tab shown stays shown; only when it is gone would this heartbeat take over.
    if d[1] ~= sid and redis.call('HEXISTS', tkey(vid), d[1]) == 0 then return false end
  elseif d[1] ~= sid or raw ~= tab_encode('A', d[5], d[6], d[7]) then
    -- Any other event shows its tab: only one already shown, as it is stored, moves nothing.
    return false
  end
  refresh('ZADD', k('tabs'), S.now + ttl, member)
  refresh('ZADD', pagekey(ev.p), S.now, vid)
  local set = { 'seen', S.now }
  if pageview then
    set[3] = 'pv'
    set[4] = (tonumber(d[8]) or 0) + 1
  end
  local x = extend_life(vid, d[4], ttl + grace + S.linger)
  if x then
    set[#set + 1] = 'x'
    set[#set + 1] = x
  end
  write_details(vid, set)
  if heartbeat then return true end
  refresh('ZADD', k('online'), S.now, vid)
  -- A page view's `update` diff (only unwatched here: it takes its number, nothing is built).
  if pageview then announced() end
  if announced() then event_diff(vid, ev) end
  return true
end

local function apply_slow(ev, ttl, grace)
  local vid, sid = ev.v, ev.s
  local member = vid .. '|' .. sid
  -- A visitor who timed out but was not swept yet leaves first, then joins again.
  local tabs = live_tabs(vid)
  local old = tabs[sid]

  if ev.t == 'leave' then
    if not old then return end
    if grace <= 0 then
      remove_tabs(vid, { sid }, 'leave')
      return
    end
    redis.call('HSET', tkey(vid), sid, tab_encode('L', old.p, old.ps, old.ti or ''))
    redis.call('ZADD', k('tabs'), S.now + grace, member)
    return
  end

  local heartbeat = ev.t == 'heartbeat'
  local title = ev.ti or ''
  if title == '' and old and old.p == ev.p then title = old.ti or '' end
  local tab = { st = 'A', p = ev.p, ps = ev.ps, ti = title }
  -- A tab that stays on its page with its title is written as it is stored: no write.
  local encoded = tab_encode('A', ev.p, ev.ps, title)
  if not old or old.raw ~= encoded then redis.call('HSET', tkey(vid), sid, encoded) end
  -- A tab that was there (live_tabs returned it) only has its deadline moved.
  if old then
    refresh('ZADD', k('tabs'), S.now + ttl, member)
  else
    redis.call('ZADD', k('tabs'), S.now + ttl, member)
  end
  local life = ttl + grace + S.linger

  if not redis.call('ZSCORE', k('online'), vid) then
    local authed = ev.pe ~= ''
    local cx = cross_of(ev.sg, ev.ps)
    local d = { sid = sid, path = ev.p, title = title, ua = ev.ua, dev = ev.dv, person = ev.pe, seg = ev.sg,
      pseg = ev.ps, pv = ev.t == 'pageview' and 1 or 0, joined = S.now, seen = S.now, cx = cx }
    redis.call('HSET', vkey(vid), 'sid', d.sid, 'path', d.path, 'title', d.title, 'ua', d.ua, 'dev', d.dev,
      'person', d.person, 'seg', d.seg, 'pseg', d.pseg, 'pv', d.pv, 'joined', d.joined, 'seen', d.seen, 'cx', d.cx,
      'x', S.now)
    extend_life(vid, 0, life)
    counts_moved(redis.call('ZADD', k('online'), S.now, vid), authed and redis.call('SADD', k('auth'), vid) or 0)
    segment_move('', '0', ev.sg, cx)
    enter_page(vid, ev.p, authed)
    track_peak()
    tabs = { [sid] = tab }
    if announced() then
      publish({ k = 'join', v = vid, vis = view_of(vid, d, tabs, S.now), c = site_counts(),
        pg = page_counts({ [ev.p] = true }), ['in'] = { ev.p } })
    end
  else
    local d = details_of(vid)
    -- Read only when a page count or the person changes.
    local authed_v
    local function authed()
      if authed_v == nil then authed_v = redis.call('SISMEMBER', k('auth'), vid) == 1 end
      return authed_v
    end
    local into, out, affected = {}, {}, {}
    local changed = false
    if old == nil or old.p ~= ev.p then
      if not on_page(tabs, ev.p, sid) then
        enter_page(vid, ev.p, authed())
        into[ev.p] = true
        affected[ev.p] = true
      else
        refresh('ZADD', pagekey(ev.p), S.now, vid)
      end
      if old and not on_page(tabs, old.p, sid) then
        exit_page(vid, old.p, authed())
        out[old.p] = true
        affected[old.p] = true
      end
      changed = true
    else
      refresh('ZADD', pagekey(ev.p), S.now, vid)
    end
    tabs[sid] = tab

    local set = { 'seen', S.now }
    -- A background tab's heartbeat does not take over the shown page; any other event does.
    local shown_sid, shown_path, shown_pseg, shown_title = d.sid, d.path, d.pseg, d.title
    if not heartbeat or d.sid == sid or tabs[d.sid] == nil then
      shown_sid, shown_path, shown_pseg, shown_title = sid, ev.p, ev.ps, title
    end
    if shown_sid ~= d.sid or shown_path ~= d.path or shown_pseg ~= d.pseg or shown_title ~= d.title then
      changed = true
      for _, x in ipairs({ 'sid', shown_sid, 'path', shown_path, 'pseg', shown_pseg, 'title', shown_title }) do set[#set + 1] = x end
    end
    if ev.pe ~= '' and ev.pe ~= d.person then
      changed = true
      set[#set + 1] = 'person'
      set[#set + 1] = ev.pe
      if not authed() then
        counts_moved(0, redis.call('SADD', k('auth'), vid))
        for _, path in ipairs(pages_of(tabs)) do
          S.auth_n[path] = tonumber(redis.call('ZINCRBY', k('pagesauth'), 1, path))
          affected[path] = true
        end
      end
    end
    local seg = d.seg
    if ev.sg ~= '' and ev.sg ~= d.seg then
      changed = true
      seg = ev.sg
      set[#set + 1] = 'seg'
      set[#set + 1] = seg
    end
    local cx = cross_of(seg, shown_pseg)
    if cx ~= d.cx then
      set[#set + 1] = 'cx'
      set[#set + 1] = cx
    end
    segment_move(d.seg, d.cx, seg, cx)
    if ev.t == 'pageview' then
      changed = true
      set[#set + 1] = 'pv'
      set[#set + 1] = (tonumber(d.pv) or 0) + 1
    end
    local x = extend_life(vid, d.x, life)
    if x then
      set[#set + 1] = 'x'
      set[#set + 1] = x
    end
    write_details(vid, set)
    if not heartbeat then refresh('ZADD', k('online'), S.now, vid) end
    if changed and announced() then
      -- The view from what was read and just written: no second read of the hash.
      for i = 1, #set, 2 do d[set[i]] = set[i + 1] end
      publish({ k = 'update', v = vid, vis = view_of(vid, d, tabs, not heartbeat and S.now or nil), c = site_counts(),
        pg = page_counts(affected), ['in'] = list_of(into), out = list_of(out) })
    end
  end

  if not heartbeat and announced() then event_diff(vid, ev) end
end


local function apply_event(ev, ttl, grace)
  if ev.t ~= 'leave' and same_page_fast(ev, ttl, grace) then return end
  apply_slow(ev, ttl, grace)
end
