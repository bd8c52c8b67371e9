--[[
  End the tabs whose deadline has passed (timeouts, and `leave`s whose grace is over); a
  visitor whose last tab ends gets exactly one `leave` diff.

  KEYS[1]   the account's presence prefix (see includes/presence-core.lua)
  ARGV[1]   pub/sub channel of the account's diffs
  ARGV[2]   at most this many tabs per call (the caller loops while a call is full)

  Returns: { tabs ended, visitors who left }.
]]
-- @include "presence-core"

presence_init(KEYS[1], ARGV[1], 0)
local looked = sweep(tonumber(ARGV[2]))
presence_flush()
return { looked, S.leaves }
