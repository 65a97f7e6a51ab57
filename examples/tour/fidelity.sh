#!/usr/bin/env bash
# The live-service behaviours (gateway errors, a lost answer, request ids, Retry-After, credits,
# expiry) against a real `evolink-mock serve` on 127.0.0.1 (virtual clock).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
M="${EVOLINK_BIN:-$HERE/../../.venv/bin}"
PORT="${PORT:-18123}"
TMP="$(mktemp -d)"
U=http://127.0.0.1:$PORT
$M/evolink-mock serve --port $PORT --clock virtual --config "$HERE/tour.toml" --log-level warning &
PID=$!
trap 'kill $PID' EXIT
for i in $(seq 50); do curl -sf $U/_mock/health >/dev/null && break; sleep 0.1; done
J='Content-Type: application/json'
echo "== X-Mock-Scenario: http:503"
curl -s -i $U/v1/videos/generations -H 'Authorization: Bearer sk-a' -H "$J" -H 'X-Mock-Scenario: http:503' \
  -d '{"model":"sora-2-pro-preview","prompt":"a cat"}' | grep -iE '^HTTP|^retry-after|^x-request-id|^\{'
echo; echo "== POST /_mock/faults {\"scenario\": \"http:418\"}"
curl -s -w ' -> %{http_code}\n' $U/_mock/faults -H "$J" -d '{"scenario":"http:418"}'
echo "== drop-after-create"
curl -s -o /dev/null -w 'curl exit: %{exitcode} http_code: %{http_code}\n' $U/v1/videos/generations \
  -H 'Authorization: Bearer sk-budget' -H "$J" -H 'X-Mock-Scenario: drop-after-create' \
  -d '{"model":"sora-2-pro-preview","prompt":"a cat"}'
echo "journal:  $(curl -s $U/_mock/requests)"
echo "accounts: $(curl -s "$U/_mock/accounts?api_key=sk-budget")"
echo "== rate = 0.1, burst = 1: 200, then 429 with Retry-After, then after that many seconds 200"
for k in 1 2; do
  curl -s -o /dev/null -D - $U/v1/videos/generations -H 'Authorization: Bearer sk-slow' -H "$J" \
    -d '{"model":"sora-2-pro-preview","prompt":"a cat"}' | grep -iE '^HTTP|^retry-after|^x-request-id'
done
curl -s $U/_mock/clock/advance -H "$J" -d '{"seconds": 10}' >/dev/null
curl -s -o /dev/null -D - $U/v1/videos/generations -H 'Authorization: Bearer sk-slow' -H "$J" \
  -d '{"model":"sora-2-pro-preview","prompt":"a cat"}' | grep -iE '^HTTP|^x-request-id'
echo "== two completed 4 s 720p tasks on a key with 1,000 credits (one was the lost answer above)"
curl -s -o /dev/null $U/v1/videos/generations -H 'Authorization: Bearer sk-budget' -H "$J" \
  -d '{"model":"sora-2-pro-preview","prompt":"a dog"}'
curl -s $U/_mock/clock/advance -H "$J" -d '{"seconds": 3600}' >/dev/null
echo "GET /v1/credits: $(curl -s $U/v1/credits -H 'Authorization: Bearer sk-budget')"
echo "== a task queried 24 h + 1 s after completion"
ID=$(curl -s $U/v1/videos/generations -H 'Authorization: Bearer sk-a' -H "$J" \
  -d '{"model":"sora-2-pro-preview","prompt":"a cat"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -s $U/_mock/clock/advance -H "$J" -d '{"seconds": 3600}' >/dev/null
END=$(curl -s $U/_mock/tasks | python3 -c 'import json,sys; print(next(t["ends_at"] for t in json.load(sys.stdin) if t["id"]=="'$ID'"))')
echo "task $ID ends at $END; status now: $(curl -s $U/v1/tasks/$ID -H 'Authorization: Bearer sk-a' | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
NOW=$(curl -s $U/_mock/clock | python3 -c 'import json,sys; print(json.load(sys.stdin)["now"])')
python3 - "$NOW" "$END" > "$TMP/gap" <<'PY'
import sys; now=float(sys.argv[1]); end=float(sys.argv[2]); print(end + 86400 + 1 - now)
PY
curl -s $U/_mock/clock/advance -H "$J" -d "{\"seconds\": $(cat "$TMP/gap")}" >/dev/null
echo "clock now - end = $(curl -s $U/_mock/clock | python3 -c 'import json,sys; print(json.load(sys.stdin)["now"] - '$END')') s"
curl -s -w ' -> %{http_code}\n' $U/v1/tasks/$ID -H 'Authorization: Bearer sk-a'
