#!/usr/bin/env bash
# proxy --record in front of serve --clock real --speed 50, then serve --replay
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
B="${EVOLINK_BIN:-$HERE/../../.venv/bin}"
D="$(mktemp -d)"; cd "$D"
$B/evolink-mock serve --clock real --speed 50 --port 18731 > up.log 2>&1 & UP=$!
$B/evolink-mock proxy --upstream http://127.0.0.1:18731 --port 18732 --record rec.jsonl --record-media > proxy.log 2>&1 & PX=$!
for i in $(seq 50); do curl -sf localhost:18732/_mock/health >/dev/null && curl -sf localhost:18731/_mock/health >/dev/null && break; sleep 0.1; done
KEY=sk-demo-secret-7f3a
ID=$(curl -s -X POST localhost:18732/v1/videos/generations -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"model":"sora-2-pro-preview","prompt":"a cat playing piano","duration":4,"quality":"720p"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
echo "created $ID through the proxy"
for i in $(seq 60); do S=$(curl -s localhost:18732/v1/tasks/$ID -H "Authorization: Bearer $KEY" | python3 -c 'import sys,json; print(json.load(sys.stdin)["status"])'); [ "$S" = completed ] && break; sleep 0.5; done
echo "final status through the proxy: $S"
kill $PX $UP; wait $PX $UP 2>/dev/null
echo "recording: $(wc -l < rec.jsonl) lines; occurrences of the key: $(grep -c "$KEY" rec.jsonl); media: $(ls rec.jsonl.media)"
python3 - <<'PY'
import json
for l in open('rec.jsonl'):
    d=json.loads(l); b=d['response_body']; print(f"  recorded  at={d['at']:<6} {d['method']:4} status={b['status']:<10} progress={b['progress']}")
PY
$B/evolink-mock serve --clock virtual --port 18733 --replay rec.jsonl > replay.log 2>&1 & RP=$!
for i in $(seq 50); do curl -sf localhost:18733/_mock/health >/dev/null && break; sleep 0.1; done
H='Authorization: Bearer sk-someone-else'
curl -s localhost:18733/v1/tasks/$ID -H "$H" > /dev/null   # the recorded clock starts at the first call
NEW=$(curl -s -X POST localhost:18733/v1/videos/generations -H "$H" -H 'Content-Type: application/json' -d '{"model":"sora-2-pro-preview","prompt":"a cat playing piano","duration":4,"quality":"720p"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
echo "replay: recorded $ID and new matching create $NEW"
NOW=0
for AT in $(python3 -c "import json; print(' '.join(str(json.loads(l)['at']) for l in open('rec.jsonl')))"); do
  STEP=$(python3 -c "print($AT - $NOW + 1e-6)"); NOW=$(python3 -c "print($AT + 1e-6)")
  curl -s -X POST localhost:18733/_mock/clock/advance -H 'Content-Type: application/json' -d "{\"seconds\": $STEP}" > /dev/null
  A=$(curl -s localhost:18733/v1/tasks/$ID -H "$H" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(d["status"], d["progress"])')
  N=$(curl -s localhost:18733/v1/tasks/$NEW -H "$H" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(d["status"], d["progress"])')
  echo "  replayed  t=$AT  recorded task: $A   new task: $N"
done
curl -s -o new.mp4 localhost:18733/_mock/videos/$NEW.mp4
cmp new.mp4 rec.jsonl.media/*.mp4 && echo "new task's video is the recorded one"
ffprobe -v error -show_entries format=format_name,duration -of csv=p=0 new.mp4
kill $RP; wait $RP 2>/dev/null
