-- account: an account, settled at `now`.
-- KEYS[1] acct: the account
-- KEYS[2] run: its reserved tasks, scored by their end
-- KEYS[3] prices: each task's price
-- KEYS[4] finals: how each task ends
-- ARGV[1] now: the simulated time
-- returns: {credits ('': unlimited), used, reserved, running, the first end or ''}, or nil
-- when the key has no account
local acct, run = KEYS[1], KEYS[2]
if redis.call('EXISTS', acct) == 0 then return false end
settle(run, KEYS[3], KEYS[4], acct, ARGV[1])
local first = redis.call('ZRANGE', run, 0, 0, 'WITHSCORES')
return {
  redis.call('HGET', acct, 'credits'),
  redis.call('HGET', acct, 'used'),
  tostring(reserved(run, KEYS[3])),
  redis.call('ZCARD', run),
  first[2] or '',
}
