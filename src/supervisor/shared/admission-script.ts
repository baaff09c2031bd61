/**
 * A concurrency slot shared by all relays: KEYS [slots zset], ARGV [now ms, expiry ms, member, max].
 * Expired holders (a relay that crashed mid-request) are dropped first. Returns 1 when taken, else 0.
 */
export const SLOT_SCRIPT = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - now)
return 1
`

/**
 * The one Redis round trip per lease (issue 7): check every limited window of a key and reserve this
 * request's share in all of them, or in none, atomically (a Lua script runs alone on the server).
 *
 * KEYS: [rpm zset, tpm hash, itpm hash, otpm hash, in-flight zset]
 * ARGV: [now ms, unique member, rpm limit, tpm limit, itpm limit, otpm limit, tpm est, itpm est, otpm est,
 *        lease member, lease expiry ms]
 * An admitted lease is also recorded as in flight (for `least_loaded` on the other relays) in the same
 * round trip.
 * Returns 0 when admitted, else the milliseconds until the key could take it (for `retry-after`).
 *
 * rpm is exact: a sorted set of admission times. Token windows are per-second buckets (a hash of
 * second → tokens), so a sum costs at most 60 fields; a bucket counts until it is wholly out of the
 * sliding minute, which errs on the safe side by under a second. Settling real usage later adds the
 * difference to the reservation's bucket.
 */
export const ADMIT_SCRIPT = `
local now = tonumber(ARGV[1])
local wait = 0
local rpmLimit = tonumber(ARGV[3])
if rpmLimit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= rpmLimit then
    local oldest = redis.call('ZRANGE', KEYS[1], n - rpmLimit, n - rpmLimit, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + 60000 - now)
  end
end
local sec = math.floor(now / 1000)
for i = 0, 2 do
  local limit = tonumber(ARGV[4 + i])
  local est = tonumber(ARGV[7 + i])
  if limit > 0 then
    local fields = redis.call('HGETALL', KEYS[2 + i])
    local sum = 0
    local buckets = {}
    for j = 1, #fields, 2 do
      local s = tonumber(fields[j])
      local v = tonumber(fields[j + 1])
      if s < sec - 60 then
        redis.call('HDEL', KEYS[2 + i], fields[j])
      else
        sum = sum + v
        table.insert(buckets, { s, v })
      end
    end
    local excess = sum + math.min(est, limit) - limit
    if excess > 0 then
      table.sort(buckets, function(a, b) return a[1] < b[1] end)
      local w = 60000
      for _, b in ipairs(buckets) do
        excess = excess - b[2]
        if excess <= 0 then
          w = (b[1] + 61) * 1000 - now
          break
        end
      end
      wait = math.max(wait, w)
    end
  end
end
if wait > 0 then return math.ceil(wait) end
if rpmLimit > 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 61000)
end
for i = 0, 2 do
  if tonumber(ARGV[4 + i]) > 0 then
    redis.call('HINCRBY', KEYS[2 + i], sec, ARGV[7 + i])
    redis.call('PEXPIRE', KEYS[2 + i], 122000)
  end
end
redis.call('ZADD', KEYS[5], tonumber(ARGV[11]), ARGV[10])
redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[11]) - now)
return 0
`
