-- log_request: one journal entry, the journal capped.
-- KEYS[1] journal: the journal's list
-- ARGV[1] entry: the entry's record (JSON)
-- ARGV[2] limit: how many entries the journal keeps
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
