--[[
  Confirm an identity edge that is now in ClickHouse as the visitor's current binding, unless a
  newer edge of the visitor was confirmed already (newest wins, like argMax(person_id, ts)).

  KEYS[1]  the visitor's binding (RedisKeys.identityBinding), value "<edgeTsMs>:<personId>"
  ARGV[1]  the edge's time, epoch ms
  ARGV[2]  the edge's person id
  ARGV[3]  seconds to keep the binding

  Returns: { 1, previous value or "" } when this edge became the binding;
           { 0, current value } when this edge (same time) or a newer one is the binding already
           (a replayed row, or a re-binding that lost the race): nothing changed.
]]
local key = KEYS[1]
local ts = tonumber(ARGV[1])
local cur = redis.call('GET', key)
if cur then
  local sep = string.find(cur, ':', 1, true)
  local curTs = sep and tonumber(string.sub(cur, 1, sep - 1)) or 0
  if curTs >= ts then
    return { 0, cur }
  end
end
redis.call('SET', key, ARGV[1] .. ':' .. ARGV[2], 'EX', tonumber(ARGV[3]))
return { 1, cur or '' }
