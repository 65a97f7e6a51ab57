#!/usr/bin/env bash
# Completed 1080p tasks, their videos downloaded and measured with ffprobe.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
M="${EVOLINK_BIN:-$HERE/../../.venv/bin}"
TMP="$(mktemp -d)"
U=http://127.0.0.1:18125
$M/evolink-mock serve --port 18125 --clock virtual --log-level warning &
PID=$!; trap 'kill $PID' EXIT
for i in $(seq 50); do curl -sf $U/_mock/health >/dev/null && break; sleep 0.1; done
for ar in 16:9 9:16; do
  ID=$(curl -s $U/v1/videos/generations -H 'Authorization: Bearer sk-a' -H 'Content-Type: application/json' \
    -d "{\"model\":\"sora-2-pro-preview\",\"prompt\":\"a cat\",\"quality\":\"1080p\",\"aspect_ratio\":\"$ar\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  curl -s $U/_mock/clock/advance -H 'Content-Type: application/json' -d '{"seconds": 3600}' >/dev/null
  URL=$(curl -s $U/v1/tasks/$ID -H 'Authorization: Bearer sk-a' | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["results"][0])')
  curl -s -o "$TMP/$ID.mp4" "$URL"
  echo "$ar 1080p: $(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=p=0:s=x "$TMP/$ID.mp4")"
done
