-- save_plan: a task's changed plan; a reservation still held moves to its new end.
-- KEYS[1] task: the task's record
-- KEYS[2] finals: how each task ends
-- KEYS[3] run: the owner's reserved tasks, scored by their end
-- ARGV[1] id: the task's id
-- ARGV[2] record: the task's record (JSON)
-- ARGV[3] ends_at: when the task now ends
-- ARGV[4] final: how it now ends ('c' or 'f')
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
