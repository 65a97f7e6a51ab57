-- take_token: a token from a bucket, refilled for the time since it was last read.
-- KEYS[1] bucket: the bucket's hash (tokens, at)
-- ARGV[1] rate: tokens per second
-- ARGV[2] size: the bucket's size
-- ARGV[3] now: the simulated time
-- returns: seconds until a token ('0': one was taken; '-1': never)
local rate, size, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, at = size, now
local kept = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if kept[1] then tokens, at = tonumber(kept[1]), tonumber(kept[2]) end
tokens = math.min(size, tokens + math.max(0, now - at) * rate)
at = math.max(at, now)
local wait = 0
if tokens >= 1 - 1e-9 then tokens = tokens - 1
elseif rate > 0 then wait = (1 - tokens) / rate
else wait = -1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
return tostring(wait)
