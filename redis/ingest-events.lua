--[[
  Append a request's rows (events, and rows for other tables such as identity edges) to the
  account's stream, all or nothing.

  KEYS[1]      the account's stream
  KEYS[2..n+1] per row: its de-duplication marker (same hash tag; unused when not de-duplicated)
  ARGV[1]      stream cap: if the rows would take the stream past it, nothing is written
  ARGV[2]      seconds to remember a de-duplication marker
  per row i, ARGV[3i], ARGV[3i+1], ARGV[3i+2]:
               "1" to de-duplicate on the marker, else "0"; the target table; the row as JSON

  Returns: an array with one entry per row: its stream id, or -2 when its marker was seen
           before; or -1 (stream full) when nothing was written.
]]
local stream = KEYS[1]
local cap = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n = #KEYS - 1

if redis.call('XLEN', stream) + n > cap then
  return -1
end

local out = {}
for i = 1, n do
  local dedupe = ARGV[3 * i] == '1'
  if dedupe and not redis.call('SET', KEYS[i + 1], '1', 'NX', 'EX', ttl) then
    out[i] = -2
  else
    out[i] = redis.call('XADD', stream, '*', 't', ARGV[3 * i + 1], 'r', ARGV[3 * i + 2])
  end
end
return out
