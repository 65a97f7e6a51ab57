-- take_over: renew this process's lease and, when `adopt`, carry on what processes whose lease
-- lapsed left: their pending deliveries and the ends of their tasks.
-- KEYS[1] alive: this process's lease
-- KEYS[2] procs: the processes that own something here
-- KEYS[3] owners: the process sending each delivery
-- KEYS[4] pending: this process's pending deliveries
-- KEYS[5] handled: the tasks whose end delivery a process has saved
-- KEYS[6] end_owner: the process to end each task with a callback URL
-- KEYS[7] ends: the tasks this process is to end
-- ARGV[1] prefix: the store's prefix, for the keys of each lapsed process (derived from
--   `procs`): `PREFIX:pending:TOKEN`, `PREFIX:ends:TOKEN`, and `PREFIX:delivery:ID` of each
--   pending delivery
-- ARGV[2] root: the root prefix, where the leases live (`ROOT:alive:TOKEN`)
-- ARGV[3] token: this process
-- ARGV[4] lease_ms: the lease's length, in milliseconds
-- ARGV[5] adopt: '1' to take over, '' to renew only
-- returns: {records of the deliveries taken over, ids of the tasks whose end is taken over}
local p, root, token = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', KEYS[1], '1', 'PX', ARGV[4])
local rows, ends = {}, {}
if ARGV[5] ~= '1' then return {rows, ends} end
for _, dead in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if dead ~= token and redis.call('EXISTS', root .. ':alive:' .. dead) == 0 then
    for _, wid in ipairs(redis.call('SMEMBERS', p .. ':pending:' .. dead)) do
      local row = redis.call('GET', p .. ':delivery:' .. wid)
      if row then
        redis.call('HSET', KEYS[3], wid, token)
        redis.call('SADD', KEYS[4], wid)
        table.insert(rows, row)
      end
    end
    for _, id in ipairs(redis.call('SMEMBERS', p .. ':ends:' .. dead)) do
      if redis.call('SISMEMBER', KEYS[5], id) == 0 then
        redis.call('HSET', KEYS[6], id, token)
        redis.call('SADD', KEYS[7], id)
        table.insert(ends, id)
      end
    end
    redis.call('DEL', p .. ':pending:' .. dead, p .. ':ends:' .. dead)
    redis.call('SREM', KEYS[2], dead)
    redis.call('SADD', KEYS[2], token)
  end
end
return {rows, ends}
