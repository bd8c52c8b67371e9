--[[
  Group commit: append the rows of many requests of one account to its stream, each request
  all or nothing and with its own de-duplication outcome, and apply each request's accepted
  events to the account's presence, all in one call (one round trip per account per tick).
  Four arguments a row, whatever it holds: every argument costs the client an encoding and
  Redis a parse, so a row's presence travels as one packed string.

  KEYS[1]      the account's stream
  KEYS[2]      the account's presence prefix (see includes/presence-core.lua)
  ARGV[1]      stream cap: a request whose rows would take the stream past it writes nothing
  ARGV[2]      seconds to remember a de-duplication marker
  ARGV[3]      pub/sub channel of the account's presence diffs
  ARGV[4]      presence ttl (ms)      ARGV[5]  presence grace (ms)      ARGV[6]  linger (ms)
  ARGV[7]      number of requests
  ARGV[8]      prefix of the account's de-duplication markers (RedisKeys.eventIdSeenPrefix: it
               carries the account's hash tag, so a marker lives in the slot of KEYS[1])
  then per request: its number of rows, then per row four arguments:
               the event id to de-duplicate on ('' for none), target table, the row as JSON,
               the event's packed presence fields (see includes/presence-apply.lua; '' for none)
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
local seen_prefix = ARGV[8]
local len = redis.call('XLEN', stream)
local started = false
local failed = 0
local out = {}
local i = 9

for r = 1, nreq do
  local n = tonumber(ARGV[i])
  i = i + 1
  if len + n > cap then
    out[r] = 'F'
    i = i + 4 * n
  else
    local flags = {}
    for row = 1, n do
      local id, presence = ARGV[i], ARGV[i + 3]
      local fresh = id == '' or redis.call('SET', seen_prefix .. id, '1', 'NX', 'EX', ttl)
      if fresh then
        redis.call('XADD', stream, '*', 't', ARGV[i + 1], 'r', ARGV[i + 2])
        len = len + 1
        flags[row] = 'a'
        if presence ~= '' then
          if not started then
            presence_init(KEYS[2], ARGV[3], ARGV[6])
            started = true
          end
          -- The rows are in; a presence failure must not undo them or fail the other requests.
          if not pcall(apply_event, read_event(presence), pttl, grace) then failed = failed + 1 end
        end
      else
        flags[row] = 'd'
      end
      i = i + 4
    end
    out[r] = table.concat(flags)
  end
end
if started then presence_flush() end
out[nreq + 1] = failed
return out
