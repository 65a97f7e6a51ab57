#!/usr/bin/env bash
# `--timings vendor --seed 7`, twice: the same requests give the same ids and plans.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
M="${EVOLINK_BIN:-$HERE/../../.venv/bin}"
TMP="$(mktemp -d)"
run() {
  $M/evolink-mock serve --port 18124 --clock virtual --start-time 1800000000 --timings vendor --seed 7 --log-level warning &
  local pid=$!
  for i in $(seq 50); do curl -sf http://127.0.0.1:18124/_mock/health >/dev/null && break; sleep 0.1; done
  for d in 4 8 12 4; do
    curl -s http://127.0.0.1:18124/v1/videos/generations -H 'Authorization: Bearer sk-a' \
      -H 'Content-Type: application/json' -d "{\"model\":\"sora-2-pro-preview\",\"prompt\":\"a cat\",\"duration\":$d}" >/dev/null
  done
  curl -s http://127.0.0.1:18124/_mock/tasks | python3 -c '
import json,sys
for t in reversed(json.load(sys.stdin)): print(t["id"], round(t["ends_at"] - 1800000000, 3))'
  kill $pid; wait $pid 2>/dev/null
}
run > "$TMP/seed1.txt"; run > "$TMP/seed2.txt"
echo "run 1:"; cat "$TMP/seed1.txt"
echo "run 2:"; cat "$TMP/seed2.txt"
cmp -s "$TMP/seed1.txt" "$TMP/seed2.txt" && echo "identical" || echo "DIFFERENT"
