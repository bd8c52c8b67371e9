--[[
  The presence sweeper's lease: one holder across every worker process.

  KEYS[1]   the lease key
  ARGV[1]   this holder's id
  ARGV[2]   lease length (ms)
  ARGV[3]   "take" (acquire or renew) or "release"

  Returns: 1 when this holder has the lease after the call (take) or released it (release), else 0.
]]
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
