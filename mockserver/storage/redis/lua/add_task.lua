-- add_task: keep a task against its key's concurrency cap and credits, after settling what
-- ended; a task with a callback URL becomes this process's to end. A create with an idempotency
-- key whose key is bound already (and not expired) keeps nothing: the claim that bound it is
-- returned; a kept task binds the key, in the same step.
-- KEYS[1] task: the task's record
-- KEYS[2] order: task ids, oldest first
-- KEYS[3] accounts: keys with an account, in the order they were opened
-- KEYS[4] acct: the owner's account
-- KEYS[5] run: the owner's reserved tasks, scored by their end
-- KEYS[6] prices: each task's price
-- KEYS[7] finals: how each task ends ('c' completed, 'f' failed)
-- KEYS[8] ends: the tasks this process is to end
-- KEYS[9] end_owner: the process to end each task with a callback URL
-- KEYS[10] procs: the processes that own something here
-- KEYS[11] alive: this process's lease
-- KEYS[12] claims: the owner's bound idempotency keys (touched only with a claim)
-- KEYS[13] owned: the owner's task ids, oldest first
-- ARGV[1] id: the task's id
-- ARGV[2] owner: the task's API key
-- ARGV[3] record: the task's record (JSON)
-- ARGV[4] ends_at: when the task ends
-- ARGV[5] price: the task's price
-- ARGV[6] final: how it ends ('c' or 'f')
-- ARGV[7] balance: the account's starting balance, should this task open it ('': unlimited)
-- ARGV[8] cap: how many tasks the owner may run at once ('': no cap)
-- ARGV[9] now: the simulated time of the create
-- ARGV[10] token: this process, when the task has a callback URL ('': it has none)
-- ARGV[11] lease_ms: the lease's length, in milliseconds
-- ARGV[12] claim_key: the create's idempotency key ('': it has none)
-- ARGV[13] claim: the claim's record (JSON, with its expiry and the task's id)
-- returns: 'ok', 'duplicate', 'concurrency', 'credits', or {'claimed', the bound claim's record}
local id, acct, run = ARGV[1], KEYS[4], KEYS[5]
if ARGV[12] ~= '' then
  local bound = redis.call('HGET', KEYS[12], ARGV[12])
  if bound and cjson.decode(bound)['expires'] > tonumber(ARGV[9]) then
    return {'claimed', bound}
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate' end
if redis.call('EXISTS', acct) == 0 then
  redis.call('HSET', acct, 'credits', ARGV[7], 'used', '0')
  redis.call('RPUSH', KEYS[3], ARGV[2])
end
settle(run, KEYS[6], KEYS[7], acct, ARGV[9])
local credits = redis.call('HGET', acct, 'credits')
if ARGV[8] ~= '' and redis.call('ZCARD', run) >= tonumber(ARGV[8]) then
  return 'concurrency'
end
if credits ~= '' then
  local left = tonumber(credits) - tonumber(redis.call('HGET', acct, 'used')) - reserved(run, KEYS[6])
  if tonumber(ARGV[5]) > left + 1e-9 then return 'credits' end
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('RPUSH', KEYS[2], id)
redis.call('RPUSH', KEYS[13], id)
redis.call('ZADD', run, ARGV[4], id)
redis.call('HSET', KEYS[6], id, ARGV[5])
redis.call('HSET', KEYS[7], id, ARGV[6])
if ARGV[10] ~= '' then
  redis.call('SADD', KEYS[8], id)
  redis.call('HSET', KEYS[9], id, ARGV[10])
  redis.call('SADD', KEYS[10], ARGV[10])
  redis.call('SET', KEYS[11], '1', 'PX', ARGV[11])
end
if ARGV[12] ~= '' then redis.call('HSET', KEYS[12], ARGV[12], ARGV[13]) end
return 'ok'
