-- take_fault: the most specific fault matching a call (by operation and key, then the oldest),
-- one of its `times` used up.
-- KEYS[1] faults: the faults' hash (records by id)
-- ARGV[1] operation: the call's operation
-- ARGV[2] api_key: the call's key
-- returns: the fault taken (its record, as it was), or nil
local best, best_rank, best_id = nil, -1, nil
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local fault = cjson.decode(all[i + 1])
  local op_ok = fault.operation == cjson.null or fault.operation == ARGV[1]
  local key_ok = fault.api_key == cjson.null or fault.api_key == ARGV[2]
  if op_ok and key_ok then
    local rank = (fault.operation ~= cjson.null and 1 or 0)
    rank = rank + (fault.api_key ~= cjson.null and 1 or 0)
    local id = tonumber(all[i])
    if rank > best_rank or (rank == best_rank and id < best_id) then
      best, best_rank, best_id = fault, rank, id
    end
  end
end
if best == nil then return false end
local taken = cjson.encode(best)
if best.remaining ~= cjson.null then
  best.remaining = best.remaining - 1
  if best.remaining <= 0 then
    redis.call('HDEL', KEYS[1], tostring(best_id))
  else
    redis.call('HSET', KEYS[1], tostring(best_id), cjson.encode(best))
  end
end
return taken
