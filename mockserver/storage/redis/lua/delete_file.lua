-- delete_file: forget a file, its bytes and its places in the expiry sets.
-- KEYS[1] files: every file's record, by id
-- KEYS[2] bytes: every file's bytes (base64), by id
-- KEYS[3] ends: every file's id, scored by when it expires
-- KEYS[4] owned: the owner's file ids, scored by when each expires
-- ARGV[1] id: the file's id
-- returns: 1 if the file was kept, else 0
local kept = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return kept
