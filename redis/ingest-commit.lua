--[[
  Group commit: append the rows of many requests of one account to its stream, each request
  all or nothing and with its own de-duplication outcome, and apply each request's accepted
  events to the account's presence, all in one call (one round trip per account per tick).

  KEYS[1]      the account's stream
  KEYS[2]      the account's presence prefix (see includes/presence-core.lua)
  KEYS[3..]    de-duplication markers of the rows that carry an id (same hash tag)
  ARGV[1]      stream cap: a request whose rows would take the stream past it writes nothing
  ARGV[2]      seconds to remember a de-duplication marker
  ARGV[3]      pub/sub channel of the account's presence diffs
  ARGV[4]      presence ttl (ms)      ARGV[5]  presence grace (ms)      ARGV[6]  linger (ms)
  ARGV[7]      number of requests
  then per request: its number of rows, then per row:
               marker (index into KEYS, "0" for none), target table, the row as JSON,
               "P" followed by the event's 15 presence fields (see includes/presence-apply.lua)
               or "-" when the row has no presence
  Returns: one entry per request: "F" when the stream is full (nothing of it written), else a
           string with one character per row, "a" appended or "d" a duplicate (not appended);
           then the number of presence updates that failed (their rows are in the stream).
]]
-- @include "presence-apply"

local stream = KEYS[1]
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local pttl, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
local nreq = tonumber(ARGV[7])
local len = redis.call('XLEN', stream)
local started = false
local failed = 0
local out = {}
local i = 8

for r = 1, nreq do
  local n = tonumber(ARGV[i])
  i = i + 1
  -- One pass to find the request's end and whether it fits.
  local j = i
  for _ = 1, n do
    j = j + 3
    if ARGV[j] == 'P' then j = j + 1 + EVENT_FIELDS else j = j + 1 end
  end
  if len + n > cap then
    out[r] = 'F'
  else
    local flags = {}
    for row = 1, n do
      local marker = tonumber(ARGV[i])
      local fresh = marker == 0 or redis.call('SET', KEYS[marker], '1', 'NX', 'EX', ttl)
      if fresh then
        redis.call('XADD', stream, '*', 't', ARGV[i + 1], 'r', ARGV[i + 2])
        len = len + 1
        flags[row] = 'a'
      else
        flags[row] = 'd'
      end
      i = i + 3
      if ARGV[i] == 'P' then
        if fresh then
          if not started then
            presence_init(KEYS[2], ARGV[3], ARGV[6])
            started = true
          end
          -- The rows are in; a presence failure must not undo them or fail the other requests.
          if not pcall(apply_event, read_event(ARGV, i + 1), pttl, grace) then failed = failed + 1 end
        end
        i = i + 1 + EVENT_FIELDS
      else
        i = i + 1
      end
    end
    out[r] = table.concat(flags)
  end
  i = j
end
if started then presence_flush() end
out[nreq + 1] = failed
return out
