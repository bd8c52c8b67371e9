--[[
  Apply accepted events to the account's presence, atomically, and publish the resulting diffs
  (join / leave / update / event) on the account's channel in order. Ingest applies presence
  inside ingest-commit.lua; this script serves callers outside ingest.

  KEYS[1]   the account's presence prefix (routes the call; every key is built from it, see
            includes/presence-core.lua)
  ARGV[1]   pub/sub channel of the account's diffs
  ARGV[2]   ttl (ms): a tab is online until this long after its last event
  ARGV[3]   grace (ms): a `leave` ends the tab this long later, so a reload is not leave + join
  ARGV[4]   linger (ms): extra life of a visitor's hashes past the ttl (a leak guard only)
  ARGV[5..] events, one packed string each (see read_event in includes/presence-apply.lua)

  Returns: the number of diffs published.
]]
-- @include "presence-apply"

presence_init(KEYS[1], ARGV[1], ARGV[4])
local ttl, grace = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 5, #ARGV do
  apply_event(read_event(ARGV[i]), ttl, grace)
end
presence_flush()
return S.diffs
