-- save_delivery: a callback delivery, saved by the process that sends it. The first save of
-- an end delivery claims the task's end (one process sends it); the list of deliveries is
-- capped, the oldest dropped.
-- KEYS[1] owners: the process sending each delivery
-- KEYS[2] handled: the tasks whose end delivery a process has saved
-- KEYS[3] end_owner: the process to end each task with a callback URL
-- KEYS[4] procs: the processes that own something here
-- KEYS[5] deliveries: delivery ids, oldest first
-- KEYS[6] delivery: this delivery's record
-- KEYS[7] pending: this process's pending deliveries
-- KEYS[8] alive: this process's lease
-- ARGV[1] prefix: the store's prefix, for the keys derived from what is stored: the
--   `PREFIX:ends:TOKEN` of the task's former end owner, and the `PREFIX:delivery:ID` and
--   `PREFIX:pending:TOKEN` of a delivery the cap drops
-- ARGV[2] token: this process
-- ARGV[3] lease_ms: the lease's length, in milliseconds
-- ARGV[4] webhook_id: the delivery's id
-- ARGV[5] record: the delivery's record (JSON)
-- ARGV[6] still_pending: '1' while it has attempts to make, '' once it is done
-- ARGV[7] task: the task's id for an end delivery ('' for another)
-- ARGV[8] limit: how many deliveries are kept
-- returns: 1 saved, 0 not this process's delivery
local p, token, wid = ARGV[1], ARGV[2], ARGV[4]
local owner = redis.call('HGET', KEYS[1], wid)
if owner and owner ~= token then return 0 end
if not owner then
  local task = ARGV[7]
  if task ~= '' then
    if redis.call('SADD', KEYS[2], task) == 0 then return 0 end
    local ender = redis.call('HGET', KEYS[3], task)
    if ender then
      redis.call('SREM', p .. ':ends:' .. ender, task)
      redis.call('HDEL', KEYS[3], task)
    end
  end
  redis.call('HSET', KEYS[1], wid, token)
  redis.call('SADD', KEYS[4], token)
  redis.call('RPUSH', KEYS[5], wid)
  if redis.call('LLEN', KEYS[5]) > tonumber(ARGV[8]) then
    local dropped = redis.call('LPOP', KEYS[5])
    local was = redis.call('HGET', KEYS[1], dropped)
    if was then redis.call('SREM', p .. ':pending:' .. was, dropped) end
    redis.call('DEL', p .. ':delivery:' .. dropped)
    redis.call('HDEL', KEYS[1], dropped)
  end
end
redis.call('SET', KEYS[6], ARGV[5])
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[7], wid)
else
  redis.call('SREM', KEYS[7], wid)
end
redis.call('SET', KEYS[8], '1', 'PX', ARGV[3])
return 1
