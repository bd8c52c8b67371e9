--[[
  Remove visitors' presence at once (erasure), each with one `leave` diff (reason "forget").

  KEYS[1]   the account's presence prefix (see includes/presence-core.lua)
  ARGV[1]   pub/sub channel of the account's diffs
  ARGV[2..] visitor ids

  Returns: how many of them were present (online or with leftover state) and were removed.
]]
-- @include "presence-core"

presence_init(KEYS[1], ARGV[1], 0)
local removed = 0
for i = 2, #ARGV do
  local vid = ARGV[i]
  local present = redis.call('ZSCORE', k('online'), vid) or redis.call('EXISTS', tkey(vid), vkey(vid)) > 0
  if present then
    visitor_leave(vid, 'forget')
    removed = removed + 1
  end
end
presence_flush()
return removed
