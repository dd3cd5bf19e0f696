"""The Lua scripts ``RedisStore`` runs: each is one atomic step on the Redis server."""

__all__ = ["DISCOVER", "PUBLISH", "RELEASE", "RENEW", "TAKE"]

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

# Keep discovery records: KEYS[1] the hash; ARGV now, then (field, record, fetched_at,
# keep-first) for each. The newer fetch wins; a client binding is never replaced;
# fields past their lifetime go.
DISCOVER = """
local now = tonumber(ARGV[1])
for i = 2, #ARGV, 4 do
  local kept = redis.call('HGET', KEYS[1], ARGV[i])
  local replace = not kept
  if kept and ARGV[i + 3] == '0' then
    local ok, record = pcall(cjson.decode, kept)
    replace = not ok or type(record) ~= 'table' or type(record['fetched_at']) ~= 'number'
      or tonumber(ARGV[i + 2]) >= record['fetched_at']
  end
  if replace then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, record = pcall(cjson.decode, all[i + 1])
  if ok and type(record) == 'table' and type(record['expires_at']) == 'number'
    and record['expires_at'] <= now then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return 1
"""
