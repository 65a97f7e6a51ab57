-- add_file: keep an uploaded file against its owner's quota, after forgetting every file
-- expired by now (anyone's); a file of the same id, or a quota filled already, keeps nothing.
-- KEYS[1] files: every file's record, by id
-- KEYS[2] bytes: every file's bytes (base64), by id
-- KEYS[3] ends: every file's id, scored by when it expires
-- KEYS[4] owned: the owner's file ids, scored by when each expires
-- ARGV[1] id: the file's id
-- ARGV[2] record: the file's record (JSON)
-- ARGV[3] content: its bytes, in base64
-- ARGV[4] expires: when it expires
-- ARGV[5] now: the simulated time of the upload
-- ARGV[6] cap: how many live files the owner may keep ('': no limit)
-- returns: 'added', 'quota_full' or 'id_taken'
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
for i = 1, #gone, 500 do
  local batch = {unpack(gone, i, math.min(i + 499, #gone))}
  redis.call('HDEL', KEYS[1], unpack(batch))
  redis.call('HDEL', KEYS[2], unpack(batch))
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[5])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'id_taken' end
if ARGV[6] ~= '' and redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then
  return 'quota_full'
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
return 'added'
