--[[
  Presence state of one account, shared by the presence-*.lua scripts.

  Every key is built from the account's presence prefix P (RedisKeys.presencePrefix), which the
  caller passes as KEYS[1]: it carries the account's {hash tag}, so every key below lives in the
  same Redis Cluster slot as KEYS[1] even though some names (per visitor, per page) can only be
  known inside the script.

    P:seq            STRING  sequence number of the last published diff
    P:online         ZSET    visitorId -> last activity (ms; heartbeats do not count as activity)
    P:auth           SET     online visitors known as a person (authenticated)
    P:tabs           ZSET    "visitorId|sessionId" -> deadline (ms): last seen + ttl, or leave + grace
    P:v:<visitor>    HASH    details: sid path title ua dev person seg pseg pv joined seen cx, and x: when
                             the TTLs of P:v and P:vt were last extended (TTL-keyed, see extend_life)
    P:vt:<visitor>   HASH    sessionId -> JSON [state "A" active | "L" left, path, page segment, title]
                             (an array: its bytes are deterministic, so an unchanged tab is
                             recognised without decoding it; the older object form is still read)
    P:page:<path>    ZSET    visitorId -> last seen on that page (a visitor with a tab on it)
    P:pages          ZSET    path -> visitors on it
    P:pagesauth      ZSET    path -> authenticated visitors on it
    P:seg            HASH    visitor segment -> online visitors of it
    P:xseg           HASH    visitor segment -> of those, visitors on a page of another segment
    P:hwm            STRING  highest online count since the last sample (for exact peaks)
    P:watched        STRING  present while some gateway has a live client of the account (set
                             with a TTL and refreshed by PresenceSubscriber, RedisKeys.presenceWatched)

  A visitor is online while they have at least one tab in P:tabs; a tab ends when its deadline
  passes (the sweeper, or the visitor's next event, removes it). Ids never contain "|" (the
  ingest schema allows [A-Za-z0-9._:-] only), so "visitorId|sessionId" splits unambiguously.

  Every state change is one JSON diff with the next sequence number, in the order of the
  changes. A call's diffs are published together at its end (presence_flush): one message of
  diffs separated by newlines (JSON text never holds a raw one), one INCRBY for their numbers.
  While no gateway watches the account (no P:watched), diffs are not built at all (see announced).
]]
local S = {}

local function presence_init(prefix, channel, linger)
  local t = redis.call('TIME')
  S.P = prefix
  S.channel = channel
  S.linger = tonumber(linger)
  S.now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  S.leaves = 0
  S.diffs = 0
  S.unannounced = 0
  -- Scripts that publish nothing pass no channel.
  S.watched = channel ~= '' and redis.call('EXISTS', prefix .. ':watched') == 1
  S.pending = {}
  -- Page counters as this call last wrote them (path -> count): a diff's page counts need no
  -- read for a page whose counter the call itself just moved.
  S.pages_n = {}
  S.auth_n = {}
end

local function k(suffix)
  return S.P .. ':' .. suffix
end

local function vkey(vid)
  return S.P .. ':v:' .. vid
end

local function tkey(vid)
  return S.P .. ':vt:' .. vid
end

local function pagekey(path)
  return S.P .. ':page:' .. path
end

-- Called for every state change, before its diff is built: `if announced() then publish(...) end`.
-- A diff is built only while some gateway has a live client of the account: building and
-- encoding diffs was most of the script's time beyond its commands, and a diff published to
-- nobody is lost anyway. An unannounced change still takes its sequence number (presence_flush),
-- so a gateway that is subscribed all the same (its P:watched lapsed) sees the gap at the next
-- diff and sends its clients to a fresh snapshot.
local function announced()
  S.diffs = S.diffs + 1
  if S.watched then return true end
  S.unannounced = S.unannounced + 1
  return false
end

local function publish(diff)
  S.pending[#S.pending + 1] = string.sub(cjson.encode(diff), 2)
end

-- Number and publish the diffs of this call; every script that publishes ends with it. The
-- sequence number leads each diff's JSON, so a gateway nobody watches this account at reads it
-- without parsing the rest.
local function presence_flush()
  if S.hwm_moved then
    redis.call('SET', k('hwm'), S.hwm)
    S.hwm_moved = false
  end
  if S.unannounced > 0 then
    redis.call('INCRBY', k('seq'), S.unannounced)
    S.unannounced = 0
  end
  local n = #S.pending
  if n == 0 then return end
  local seq = redis.call('INCRBY', k('seq'), n) - n
  for i = 1, n do S.pending[i] = '{"seq":' .. (seq + i) .. ',' .. S.pending[i] end
  redis.call('PUBLISH', S.channel, table.concat(S.pending, '\n'))
  S.pending = {}
end

-- A write that only moves a time or a display counter of state that is already there: a live
-- tab's deadline, a visitor's last-seen and activity times and page views, their time on a page
-- they are on. Most of a page view's and a heartbeat's writes are these, and they stay out of the
-- append-only file and the replicas (about a third of Redis's time per event was the AOF). Every
-- write that changes what is online (joins, leaves, tabs, pages, counts, persons, segments) is
-- replicated as before, so the state Redis restarts with is whole and its counts exact; its
-- times are those of each visitor's last replicated change, so a visitor may time out and join
-- again once after a restart.
local function refresh(...)
  redis.set_repl(redis.REPL_NONE)
  local ok, err = pcall(redis.call, ...)
  redis.set_repl(redis.REPL_ALL)
  if not ok then error(err) end
end

local function tab_encode(st, p, ps, ti)
  return cjson.encode({ st, p, ps, ti })
end

-- A decoded tab keeps the bytes it was read as (raw), so an unchanged tab need not be written back.
local function tab_decode(raw)
  local t = cjson.decode(raw)
  if t[1] ~= nil then return { st = t[1], p = t[2], ps = t[3], ti = t[4], raw = raw } end
  return t
end

-- [online, authenticated], read once per call: whatever adds or removes members of P:online or
-- P:auth moves them by what its command reports (counts_moved), so they stay exact without a
-- second read.
local function site_counts()
  if not S.sc then S.sc = { redis.call('ZCARD', k('online')), redis.call('SCARD', k('auth')) } end
  return { S.sc[1], S.sc[2] }
end

local function counts_moved(online, auth)
  if S.sc then
    S.sc[1] = S.sc[1] + online
    S.sc[2] = S.sc[2] + auth
  end
end

local function page_counts(paths)
  local out = {}
  local any = false
  for path, _ in pairs(paths) do
    out[path] = {
      S.pages_n[path] or tonumber(redis.call('ZSCORE', k('pages'), path) or 0),
      S.auth_n[path] or tonumber(redis.call('ZSCORE', k('pagesauth'), path) or 0),
    }
    any = true
  end
  if any then return out end
  return nil
end

local function list_of(set)
  local out = {}
  for key, _ in pairs(set) do out[#out + 1] = key end
  table.sort(out)
  if #out == 0 then return nil end
  return out
end

-- Tabs of a visitor: sessionId -> decoded tab.
local function tabs_of(vid)
  local raw = redis.call('HGETALL', tkey(vid))
  local out = {}
  for i = 1, #raw, 2 do out[raw[i]] = tab_decode(raw[i + 1]) end
  return out
end

-- Distinct paths of a visitor's tabs, sorted.
local function pages_of(tabs)
  local set = {}
  for _, tab in pairs(tabs) do set[tab.p] = true end
  local out = {}
  for path, _ in pairs(set) do out[#out + 1] = path end
  table.sort(out)
  return out
end

local function on_page(tabs, path, except_sid)
  for sid, tab in pairs(tabs) do
    if sid ~= except_sid and tab.p == path then return true end
  end
  return false
end

local function enter_page(vid, path, authed)
  redis.call('ZADD', pagekey(path), S.now, vid)
  S.pages_n[path] = tonumber(redis.call('ZINCRBY', k('pages'), 1, path))
  if authed then S.auth_n[path] = tonumber(redis.call('ZINCRBY', k('pagesauth'), 1, path)) end
end

-- A sorted-set counter that disappears at zero, so P:pages lists only pages with visitors.
-- Returns the count left.
local function zdecr(key, member)
  local n = tonumber(redis.call('ZINCRBY', key, -1, member))
  if n <= 0 then
    redis.call('ZREM', key, member)
    return 0
  end
  return n
end

local function exit_page(vid, path, authed)
  redis.call('ZREM', pagekey(path), vid)
  S.pages_n[path] = zdecr(k('pages'), path)
  if authed then S.auth_n[path] = zdecr(k('pagesauth'), path) end
end

local function hincr_or_del(key, field, by)
  if field == nil or field == '' then return end
  local n = tonumber(redis.call('HINCRBY', key, field, by))
  if n <= 0 then redis.call('HDEL', key, field) end
end

-- Segment counters follow (segment, cross) of a visitor: remove the old pair, add the new one.
local function segment_move(old_seg, old_cx, new_seg, new_cx)
  if old_seg == new_seg and old_cx == new_cx then return end
  hincr_or_del(k('seg'), old_seg, -1)
  if old_cx == '1' then hincr_or_del(k('xseg'), old_seg, -1) end
  if new_seg ~= nil and new_seg ~= '' then
    redis.call('HINCRBY', k('seg'), new_seg, 1)
    if new_cx == '1' then redis.call('HINCRBY', k('xseg'), new_seg, 1) end
  end
end

local function cross_of(seg, pseg)
  if seg ~= nil and seg ~= '' and pseg ~= nil and pseg ~= '' and seg ~= pseg then return '1' end
  return '0'
end

local DETAIL_FIELDS = { 'sid', 'path', 'title', 'ua', 'dev', 'person', 'seg', 'pseg', 'pv', 'joined', 'seen', 'cx', 'x' }

-- The TTLs of a visitor's hashes are a leak guard only (the sweeper ends visitors), so they are
-- extended once per half linger rather than on every event: two writes saved on the hot path,
-- and the hashes still outlive the last event by at least ttl + grace + linger / 2.
-- `x` is the visitor's P:v field x; returns the value to store in it, or nil when unchanged.
local function extend_life(vid, x, life)
  if S.now - (tonumber(x) or 0) < S.linger / 2 then return nil end
  redis.call('PEXPIRE', vkey(vid), life)
  redis.call('PEXPIRE', tkey(vid), life)
  return S.now
end

local function details_of(vid)
  local vals = redis.call('HMGET', vkey(vid), unpack(DETAIL_FIELDS))
  local d = {}
  for i, f in ipairs(DETAIL_FIELDS) do d[f] = vals[i] or '' end
  return d
end

-- The visitor as diffs and snapshots carry it.
-- `act` (last activity) when the caller knows it, else read.
local function view_of(vid, d, tabs, act)
  local n = 0
  for _ in pairs(tabs) do n = n + 1 end
  return {
    id = vid, sid = d.sid, path = d.path, title = d.title, ua = d.ua, dev = d.dev,
    person = d.person, seg = d.seg, pseg = d.pseg,
    pv = tonumber(d.pv) or 0, joined = tonumber(d.joined) or 0, seen = tonumber(d.seen) or 0,
    act = act or tonumber(redis.call('ZSCORE', k('online'), vid) or 0),
    tabs = n, on = pages_of(tabs),
  }
end

-- The peak is read once per call and written once, at its end (presence_flush).
local function track_peak()
  local n = site_counts()[1]
  if S.hwm == nil then S.hwm = tonumber(redis.call('GET', k('hwm')) or 0) end
  if n > S.hwm then
    S.hwm = n
    S.hwm_moved = true
  end
end

-- Everything of a visitor goes at once: one `leave` diff, whatever the number of tabs.
local function visitor_leave(vid, reason)
  local tabs = tabs_of(vid)
  local d = details_of(vid)
  local authed = redis.call('SISMEMBER', k('auth'), vid) == 1
  local out = {}
  for sid, tab in pairs(tabs) do
    redis.call('ZREM', k('tabs'), vid .. '|' .. sid)
    if not out[tab.p] then
      out[tab.p] = true
      exit_page(vid, tab.p, authed)
    end
  end
  segment_move(d.seg, d.cx, '', '0')
  local removed = redis.call('ZREM', k('online'), vid)
  counts_moved(-removed, -redis.call('SREM', k('auth'), vid))
  local was_online = removed == 1
  redis.call('DEL', vkey(vid), tkey(vid))
  if not was_online then return false end
  S.leaves = S.leaves + 1
  if announced() then publish({ k = 'leave', v = vid, r = reason, c = site_counts(), pg = page_counts(out), out = list_of(out) }) end
  return true
end

-- End some of a visitor's tabs at once. The visitor leaves only with their last tab (one
-- `leave`, however many tabs end together); otherwise they may leave pages, and when the tab
-- shown ends, the most recent remaining tab is shown instead (one `update`). Without a reason,
-- it is `leave` when every ended tab was closed by a `leave` event, else `timeout`.
local function remove_tabs(vid, sids, reason)
  local tabs = tabs_of(vid)
  local ended = {}
  local all_left = true
  for _, sid in ipairs(sids) do
    redis.call('ZREM', k('tabs'), vid .. '|' .. sid)
    if tabs[sid] ~= nil and ended[sid] == nil then
      ended[sid] = tabs[sid]
      if tabs[sid].st ~= 'L' then all_left = false end
    end
  end
  if next(ended) == nil then return end
  if reason == nil then
    reason = all_left and 'leave' or 'timeout'
  end
  for sid, _ in pairs(ended) do tabs[sid] = nil end
  if next(tabs) == nil then
    visitor_leave(vid, reason)
    return
  end
  local d = details_of(vid)
  local authed = redis.call('SISMEMBER', k('auth'), vid) == 1
  local out = {}
  for sid, tab in pairs(ended) do
    redis.call('HDEL', tkey(vid), sid)
    if not out[tab.p] and not on_page(tabs, tab.p, nil) then
      out[tab.p] = true
      exit_page(vid, tab.p, authed)
    end
  end
  if ended[d.sid] ~= nil then
    local best, best_score = nil, -1
    for other, _ in pairs(tabs) do
      local score = tonumber(redis.call('ZSCORE', k('tabs'), vid .. '|' .. other) or 0)
      if score > best_score or (score == best_score and other < best) then best, best_score = other, score end
    end
    local shown = tabs[best]
    local cx = cross_of(d.seg, shown.ps)
    segment_move(d.seg, d.cx, d.seg, cx)
    redis.call('HSET', vkey(vid), 'sid', best, 'path', shown.p, 'pseg', shown.ps, 'title', shown.ti or '', 'cx', cx)
    d = details_of(vid)
  end
  if announced() then
    publish({ k = 'update', v = vid, r = reason, vis = view_of(vid, d, tabs), c = site_counts(), pg = page_counts(out), out = list_of(out) })
  end
end

-- End a visitor's tabs whose deadline has passed (the sweeper may not have come by yet).
local function expire_visitor(vid)
  local due = {}
  for _, sid in ipairs(redis.call('HKEYS', tkey(vid))) do
    local deadline = redis.call('ZSCORE', k('tabs'), vid .. '|' .. sid)
    if deadline == false or tonumber(deadline) <= S.now then due[#due + 1] = sid end
  end
  if #due > 0 then remove_tabs(vid, due, nil) end
end

-- A visitor's tabs after ending those whose deadline has passed: expire_visitor and tabs_of
-- in one read when none is due (the common case).
local function live_tabs(vid)
  local raw = redis.call('HGETALL', tkey(vid))
  local tabs, due = {}, nil
  for i = 1, #raw, 2 do
    local sid = raw[i]
    local deadline = redis.call('ZSCORE', k('tabs'), vid .. '|' .. sid)
    if deadline == false or tonumber(deadline) <= S.now then
      due = due or {}
      due[#due + 1] = sid
    else
      tabs[sid] = tab_decode(raw[i + 1])
    end
  end
  if due then
    remove_tabs(vid, due, nil)
    return tabs_of(vid)
  end
  return tabs
end

-- End up to `limit` tabs whose deadline has passed, visitor by visitor; returns how many
-- tabs were due.
local function sweep(limit)
  local due = redis.call('ZRANGEBYSCORE', k('tabs'), '-inf', S.now, 'LIMIT', 0, limit)
  local done = {}
  for _, member in ipairs(due) do
    local bar = string.find(member, '|', 1, true)
    if bar then
      local vid = string.sub(member, 1, bar - 1)
      if not done[vid] then
        done[vid] = true
        expire_visitor(vid)
      end
    end
    -- A tab entry without its visitor's state (never expected) must not be due forever.
    redis.call('ZREM', k('tabs'), member)
  end
  return #due
end
