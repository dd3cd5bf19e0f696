"""The Lua scripts ``RedisStore`` runs: each is one atomic step on the Redis server."""

__all__ = ["PUBLISH", "RELEASE", "RENEW", "TAKE"]

# Keep the record under a newer lease's: KEYS[1] token key; ARGV fence, record, expiry ms.
PUBLISH = """
local kept = redis.call('GET', KEYS[1])
if kept then
  local ok, record = pcall(cjson.decode, kept)
  if ok and type(record) == 'table' and tonumber(record['fence'] or 0) > tonumber(ARGV[1]) then
    return 0
  end
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
end
return 1
"""

# Take the lease if free: KEYS lease key, fence counter; ARGV holder, milliseconds.
TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence .. ':' .. ARGV[1], 'PX', ARGV[2])
return fence
"""

# Delete the lease only if it is still ours: KEYS[1] lease key; ARGV[1] its value.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Extend the lease only if it is still ours: KEYS[1] lease key; ARGV its value, milliseconds.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
