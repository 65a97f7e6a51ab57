-- save_clock: the clock. A virtual clock's time only moves forward: two processes advancing
-- at once keep the later time.
-- KEYS[1] clock: the clock's hash
-- ARGV[1] kind: 'virtual' or 'real'
-- ARGV[2] speed: a real clock's speed ('' for none)
-- ARGV[3] wall: the wall time now
-- ARGV[4] sim: the simulated time now
-- ARGV[5] format: the record format
-- returns: 1 saved, 0 another process's clock was ahead
local kind, sim = redis.call('HGET', KEYS[1], 'kind'), redis.call('HGET', KEYS[1], 'sim')
if kind == 'virtual' and ARGV[1] == 'virtual' and sim and tonumber(sim) > tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'speed', ARGV[2], 'wall', ARGV[3], 'sim', ARGV[4],
  'v', ARGV[5])
return 1
