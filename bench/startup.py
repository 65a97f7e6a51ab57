"""Start-up: from `evolink-mock serve` started to its first healthy `/_mock/health`, N times.

    python bench/startup.py                   # 10 starts, the median against the 0.5 s target
    python bench/startup.py --starts 20 -- --clock virtual --db /tmp/s.db   # serve's own flags

Each start is `python -m mockserver.cli.main serve --port P --log-level warning [FLAGS]` on a free
port of 127.0.0.1, in a session of its own; the health route is asked every 5 ms from the moment
the process is spawned, until it answers 200 (at most `--timeout` seconds), then the server is
stopped (SIGTERM to its session) before the next start. What is measured is what a user or a CI
job waits for: the interpreter, the imports, reading the spec and the models, opening the store,
binding the socket. The package is byte-compiled first, as `pip install` leaves it: an editable
install's sources are compiled by their first import (never, where PYTHONDONTWRITEBYTECODE is
set, so that each start would compile every module again, about 0.12 s of it here).

Exit status: 0 when the median is at most `--target` seconds, 1 when not, 2 when a server did
not start.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import http.client
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from _proc import Server, SetupError, free_ports, request

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "bench" / ".cache" / "logs"
POLL_INTERVAL = 0.005
TARGET = 0.5


def healthy(port: int) -> bool:
    with contextlib.suppress(OSError, http.client.HTTPException):
        status, _ = request(port, "GET", "/_mock/health", timeout=1.0)
        return status == 200
    return False


def compile_package(src: Path | None = None) -> None:
    """Byte-compile the mockserver package that `serve` runs (the checkout's, or `src`'s)."""
    if not compileall.compile_dir(str((src or ROOT) / "mockserver"), quiet=1):
        raise SetupError(f"mockserver under {src or ROOT} does not compile")


def one_start(
    flags: Sequence[str],
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> float:
    """Seconds from spawning `serve` to its first 200 on `/_mock/health` (`env` and `cwd`: the
    process's, as `compare.py` runs ours)."""
    (port,) = free_ports(1)
    argv = [sys.executable, "-m", "mockserver.cli.main", "serve", "--port", str(port)]
    server = Server(
        "startup",
        [*argv, "--log-level", "warning", *flags],
        port,
        LOGS / "startup.log",
        env=env,
        cwd=cwd,
    )
    started = time.perf_counter()
    server.start()
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if healthy(port):
                return time.perf_counter() - started
            if not server.alive():
                raise SetupError(f"serve exited before it was healthy; see {server.log_path}")
            time.sleep(POLL_INTERVAL)
        raise SetupError(f"serve was not healthy after {timeout:g} s; see {server.log_path}")
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=10, help="how many starts (default 10)")
    parser.add_argument("--target", type=float, default=TARGET, help="median target, seconds")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for one")
    parser.add_argument("flags", nargs="*", help="after --: flags passed to serve")
    args = parser.parse_args(argv)
    if args.starts < 1:
        parser.error("--starts must be at least 1")
    try:
        compile_package()
        times = [one_start(args.flags, args.timeout) for _ in range(args.starts)]
    except SetupError as exc:
        print(f"startup: {exc}", file=sys.stderr)
        return 2
    median = statistics.median(times)
    shown = " ".join(f"{t:.3f}" for t in times)
    verdict = "PASS" if median <= args.target else "FAIL"
    print(f"serve to healthy /_mock/health, {args.starts} starts: {shown}")
    print(f"median {median:.3f} s  min {min(times):.3f}  max {max(times):.3f}")
    print(f"median <= {args.target:g} s  {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
