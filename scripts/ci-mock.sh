#!/usr/bin/env bash
# Start evolink-mock in the background for a CI job, wait until it is healthy, export its URL;
# or stop it. The steps of action.yml, and runnable as they are on any CI:
#
#   scripts/ci-mock.sh start [SERVE ARGS...]   # e.g. --clock virtual --api-key sk-ci
#   scripts/ci-mock.sh stop
#
# Environment (all optional):
#   EVOLINK_MOCK_PORT      port on 127.0.0.1 (default 8000)
#   EVOLINK_MOCK_HOST      interface (default 127.0.0.1; beyond loopback needs --admin-token)
#   EVOLINK_MOCK_INSTALL   1: pip install the package first (default: only if evolink-mock is
#                          not on PATH); 0: never
#   EVOLINK_MOCK_PACKAGE   what to pip install (default: this script's checkout)
#   EVOLINK_MOCK_PYTHON    the python whose pip installs it (default python3)
#   EVOLINK_MOCK_TIMEOUT   seconds to wait for /_mock/health (default 30)
#   EVOLINK_MOCK_STATE     where the pid file and the log go (default $RUNNER_TEMP or /tmp)
#   GITHUB_ENV             when set (GitHub Actions), EVOLINK_BASE_URL is appended to it, so
#                          the job's later steps see it; GITHUB_OUTPUT gets base-url
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${EVOLINK_MOCK_PORT:-8000}"
host="${EVOLINK_MOCK_HOST:-127.0.0.1}"
python="${EVOLINK_MOCK_PYTHON:-python3}"
timeout="${EVOLINK_MOCK_TIMEOUT:-30}"
state="${EVOLINK_MOCK_STATE:-${RUNNER_TEMP:-/tmp}}"
pidfile="$state/evolink-mock-$port.pid"
logfile="$state/evolink-mock-$port.log"
# the URL clients use: loopback even when serving on every interface
case "$host" in 0.0.0.0 | :: | "[::]") client_host=127.0.0.1 ;; *) client_host="$host" ;; esac
base_url="http://$client_host:$port"

say() { echo "ci-mock: $*" >&2; }

healthy() {
    "$python" - "$base_url/_mock/health" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

start() {
    if [ "${EVOLINK_MOCK_INSTALL:-}" = 1 ] || { [ "${EVOLINK_MOCK_INSTALL:-}" != 0 ] && ! command -v evolink-mock >/dev/null; }; then
        say "installing ${EVOLINK_MOCK_PACKAGE:-$here}"
        "$python" -m pip install --quiet "${EVOLINK_MOCK_PACKAGE:-$here}"
    fi
    command -v evolink-mock >/dev/null || { say "evolink-mock is not on PATH"; exit 1; }
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        say "already running (pid $(cat "$pidfile")) on port $port"; exit 1
    fi
    mkdir -p "$state"
    nohup evolink-mock serve --host "$host" --port "$port" "$@" >"$logfile" 2>&1 &
    echo $! >"$pidfile"
    deadline=$((SECONDS + timeout))
    until healthy; do
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            say "evolink-mock exited before it was healthy:"; cat "$logfile" >&2
            rm -f "$pidfile"; exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "no healthy /_mock/health at $base_url within ${timeout}s:"; cat "$logfile" >&2
            stop; exit 1
        fi
        sleep 0.2
    done
    [ -n "${GITHUB_ENV:-}" ] && echo "EVOLINK_BASE_URL=$base_url" >>"$GITHUB_ENV"
    [ -n "${GITHUB_OUTPUT:-}" ] && echo "base-url=$base_url" >>"$GITHUB_OUTPUT"
    say "evolink-mock (pid $(cat "$pidfile")) healthy at $base_url; log: $logfile"
    echo "EVOLINK_BASE_URL=$base_url"
}

stop() {
    if [ ! -f "$pidfile" ]; then
        say "not running on port $port (no $pidfile)"; return 0
    fi
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { say "pid $pid ignored TERM: killing it"; kill -KILL "$pid"; }
    fi
    rm -f "$pidfile"
    say "stopped evolink-mock (pid $pid); the last of its log:"
    tail -n 20 "$logfile" >&2 || true
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    *) echo "usage: $0 start [evolink-mock serve args...] | stop" >&2; exit 2 ;;
esac
