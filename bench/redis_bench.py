"""The Redis store side by side with memory, and two workers with one, in one run.

Starts its own `redis-server` (a free port of 127.0.0.1, a temporary folder, no persistence),
then prints, each from the benchmark that measures it:

1. one worker on Redis against one in memory (`bench/ab.py`, alternating rounds): creates/s,
   queries/s, p99, server CPU per request (target: Redis keeps 0.4 or more of the creates/s);
2. two workers on Redis against one on Redis (target: 1.3x or more on 2 cores);
3. query latency at 1,000 and 100,000 tasks stored in Redis, and bytes per stored task in Redis
   (`bench/query_scale.py --store`; targets: ratio of medians at most 1.2, at most 2 KB);
4. the CPU seconds `redis-server` used in each part.

    python bench/redis_bench.py                   # 5 s x 3 rounds per comparison
    python bench/redis_bench.py --duration 10 --rounds 5
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TICKS = 100  # clock ticks per second of /proc/PID/stat (Linux's USER_HZ)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def run(title: str, command: list[str], redis_pid: int) -> None:
    print(f"\n== {title}\n$ {' '.join(command[1:])}", flush=True)
    before = cpu_seconds(redis_pid)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("op ", "  stored"))), 0)
    print("\n".join(lines[start:]) or done.stderr[-2000:])
    print(f"redis-server CPU: {cpu_seconds(redis_pid) - before:.1f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--large", type=int, default=100_000, help="tasks in the large store")
    args = parser.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis_bench: redis-server is not installed (apt-get install redis-server)")
        return 2
    folder = tempfile.mkdtemp(prefix="evolink-bench-redis-")
    port = free_port()
    redis = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            folder,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        time.sleep(0.5)
        ab = [
            sys.executable,
            str(HERE / "ab.py"),
            "--base",
            "tree",
            "--duration",
            str(args.duration),
            "--rounds",
            str(args.rounds),
        ]
        run(
            "one worker on Redis (head) against one in memory (base)",
            [*ab, f"--head-flags=--store {url}/1", "--min-ratio", "0.4"],
            redis.pid,
        )
        run(
            "two workers on Redis (head) against one on Redis (base)",
            [
                *ab,
                f"--base-flags=--store {url}/2",
                f"--head-flags=--store {url}/3 --workers 2",
                "--min-ratio",
                "1.3",
            ],
            redis.pid,
        )
        run(
            "query latency and bytes per task in Redis",
            [
                sys.executable,
                str(HERE / "query_scale.py"),
                "--store",
                f"{url}/4",
                "--large",
                str(args.large),
            ],
            redis.pid,
        )
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
