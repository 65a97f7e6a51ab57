-- index_owners: each key's task ids (`PREFIX:owned:KEY`, oldest first), built from the task
-- order once for records written before the index existed; a prefix indexed already is left
-- alone. Rebuilt whole (each owner's list replaced) in one step, so that it is exact whatever
-- was written before.
-- KEYS[1] order: task ids, oldest first
-- KEYS[2] indexed: set once the prefix's tasks are indexed by owner
-- ARGV[1] prefix: the store's prefix, for each task's record and each owner's list
-- returns: how many tasks were indexed (0 for a prefix indexed already)
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local p = ARGV[1]
local owned, owners, count = {}, {}, 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local row = redis.call('GET', p .. ':task:' .. id)
  if row then
    local owner = cjson.decode(row)['owner']
    if owned[owner] == nil then
      owned[owner] = {}
      table.insert(owners, owner)
    end
    table.insert(owned[owner], id)
    count = count + 1
  end
end
for _, owner in ipairs(owners) do
  local list = p .. ':owned:' .. owner
  redis.call('DEL', list)
  local ids = owned[owner]
  for start = 1, #ids, 1000 do
    redis.call('RPUSH', list, unpack(ids, start, math.min(start + 999, #ids)))
  end
end
redis.call('SET', KEYS[2], '1')
return count
