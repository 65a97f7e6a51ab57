-- wrk script: the create request of bench/compare.py (same body and headers for every server).
-- wrk -t2 -c50 -d10s --latency -s bench/post.lua http://127.0.0.1:PORT/v1/videos/generations
wrk.method = "POST"
wrk.body = '{"model":"sora-2-pro-preview","prompt":"A cat playing piano","duration":8}'
wrk.headers["Authorization"] = "Bearer sk-bench"
wrk.headers["Content-Type"] = "application/json"

dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "report.lua")
