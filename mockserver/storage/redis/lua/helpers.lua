-- helpers: prepended to the scripts that settle an account (add_task, account).
-- settle(run, prices, finals, acct, now): the reservations of `run` that ended by `now` leave
-- it; those that completed add their price to the account's `used`.
-- reserved(run, prices): what the reservations of `run` still hold.
local function settle(run, prices, finals, acct, now)
  local ended = redis.call('ZRANGEBYSCORE', run, '-inf', now)
  for _, id in ipairs(ended) do
    redis.call('ZREM', run, id)
    if redis.call('HGET', finals, id) == 'c' then
      redis.call('HINCRBYFLOAT', acct, 'used', redis.call('HGET', prices, id))
    end
  end
end
local function reserved(run, prices)
  local total = 0
  for _, id in ipairs(redis.call('ZRANGE', run, 0, -1)) do
    total = total + tonumber(redis.call('HGET', prices, id))
  end
  return total
end
