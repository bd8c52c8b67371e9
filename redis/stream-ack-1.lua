--[[
  Acknowledge flushed entries and delete them from the stream, in one round trip: the stream then
  holds the backlog only, and nothing is deleted that was not acknowledged first.

  KEYS[1]      the account's stream
  ARGV[1]      the consumer group
  ARGV[2..n]   entry ids

  Returns: the number of entries deleted.
]]
local stream = KEYS[1]
local group = ARGV[1]
-- unpack() is bounded by Lua's C stack (LUAI_MAXCSTACK 8000): ids go in chunks.
local CHUNK = 5000
local deleted = 0
for i = 2, #ARGV, CHUNK do
  local last = math.min(i + CHUNK - 1, #ARGV)
  redis.call('XACK', stream, group, unpack(ARGV, i, last))
  deleted = deleted + redis.call('XDEL', stream, unpack(ARGV, i, last))
end
return deleted
