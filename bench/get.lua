-- wrk script: the task query of bench/compare.py.
-- wrk -t2 -c50 -d10s --latency -s bench/get.lua http://127.0.0.1:PORT/v1/tasks/TASK_ID
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer sk-bench"

dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "report.lua")
