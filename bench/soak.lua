-- wrk script for bench/soak.py: mixed creates and queries, or queries only, on real task ids.
--
--   wrk -t2 -c200 -d60s --latency -s bench/soak.lua http://127.0.0.1:PORT -- MODE RATIO KEY IDS
--
-- MODE   "mixed": 1 create (POST /v1/videos/generations) for every RATIO queries
--        (GET /v1/tasks/{id}); "query": queries only.
-- KEY    the bearer key.
-- IDS    a file of task ids, one a line: what queries use until this thread has harvested an id
--        from a 200 response (the only ids a "query" run uses).
--
-- Each thread keeps the newest RING ids it saw in 200 responses (parsed with string.match) and
-- queries one of them at random, so queries hit real, recently created tasks. It also keeps a
-- uniform random sample (reservoir) of SAMPLE harvested ids, printed at the end for the
-- queries-only phase. At the end one line "SOAK_JSON {...}" gives wrk's figures and the status
-- histogram counted here (wrk itself only counts statuses above 399).

local BODY = '{"model":"sora-2-pro-preview","prompt":"A cat playing piano","duration":8}'
local RING = 10000
local SAMPLE = 500

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
local mode, ratio, create_req, query_headers
local ring, known, nids, pos = {}, {}, 0, 0
local fallback = {}
creates, queries, responses, non2xx, harvested, fallback_used = 0, 0, 0, 0, 0, 0
statuses = {}
sample = {}

function init(args)
  mode = args[1] or "mixed"
  ratio = tonumber(args[2] or "4")
  local key = args[3] or "sk-soak"
  if args[4] then
    for line in io.lines(args[4]) do
      if line ~= "" then
        table.insert(fallback, line)
      end
    end
  end
  if #fallback == 0 then
    error("soak.lua: no task id in " .. tostring(args[4]))
  end
  create_req = wrk.format(
    "POST",
    "/v1/videos/generations",
    { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" },
    BODY
  )
  query_headers = { ["Authorization"] = "Bearer " .. key }
  math.randomseed(os.time() * 1000 + (tid or 0))
end

function request()
  if mode == "mixed" and (creates + queries) % (ratio + 1) == 0 then
    creates = creates + 1
    return create_req
  end
  queries = queries + 1
  local id
  if nids > 0 then
    id = ring[math.random(nids)]
  else
    fallback_used = fallback_used + 1
    id = fallback[math.random(#fallback)]
  end
  return wrk.format("GET", "/v1/tasks/" .. id, query_headers)
end

local function remember(id)
  known[id] = true
  pos = pos % RING + 1
  local old = ring[pos]
  if old then
    known[old] = nil
  end
  ring[pos] = id
  if nids < RING then
    nids = nids + 1
  end
  harvested = harvested + 1
  if #sample < SAMPLE then
    table.insert(sample, id)
  else
    local j = math.random(harvested)
    if j <= SAMPLE then
      sample[j] = id
    end
  end
end

function response(status, headers, body)
  responses = responses + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif mode == "mixed" then
    -- create and query answers look alike; `known` keeps a query's answer from adding its id again
    local id = string.match(body, '"id":"(task%-[^"]+)"')
    if id and not known[id] then
      remember(id)
    end
  end
end

function done(summary, latency, requests)
  local total = { creates = 0, queries = 0, responses = 0, non2xx = 0, harvested = 0,
                  fallback_used = 0 }
  local hist, ids = {}, {}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
    for status, count in pairs(thread:get("statuses") or {}) do
      hist[status] = (hist[status] or 0) + count
    end
    for _, id in ipairs(thread:get("sample") or {}) do
      table.insert(ids, '"' .. id .. '"')
    end
  end
  local parts = {}
  for status, count in pairs(hist) do
    table.insert(parts, string.format('"%d":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status_over_399":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"creates_sent":%d,"queries_sent":%d,"responses":%d,"non2xx":%d,"harvested":%d,' ..
    '"fallback_used":%d,"statuses":{%s},"sample_ids":[%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max,
    total.creates, total.queries, total.responses, total.non2xx, total.harvested,
    total.fallback_used, table.concat(parts, ","), table.concat(ids, ",")))
end
