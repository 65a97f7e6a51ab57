"""Fuzz: 5,000+ schemathesis negative cases with no 5xx, and a 10 MB body refused unread.

The simulator runs in this process, in a thread (mockserver.testing.server.serve_in_thread, a real
socket on 127.0.0.1), with `api_keys={"sk-fuzz"}`, the virtual clock and the offline resolver:
generated callback hosts are never looked up (and this process's socket.getaddrinfo refuses
any name but localhost, counting the attempts, in case something else tried). An ASGI wrapper
counts every response's status and how many body bytes the application read.

1. **Negative fuzzing.** `python -m schemathesis.cli run` (a subprocess) against /openapi.json:
   `--mode negative --phases coverage,fuzzing --checks not_a_server_error`,
   `--max-examples N` per operation (2 operations; the coverage phase adds ~80 cases), with
   `Authorization: Bearer sk-fuzz`. Cases and response statuses are counted from its NDJSON
   report, and again on the server side.
2. **Oversized body.** A 10 MB create body streamed from a generator (64 KB chunks), once with
   `Content-Length: 10485760` and once chunked without a length. Each must be answered `400` in
   the error envelope, and neither this process's peak RSS (VmHWM, reset before each request
   through /proc/self/clear_refs, after malloc_trim) nor its peak Python allocations
   (tracemalloc, every thread: the server's included) may grow by anything like 10 MB. A
   control allocation of the same size shows that both measures would see it.

    python bench/fuzz.py                      # 2 x 2,500 fuzzing + coverage cases, ~2 minutes
    python bench/fuzz.py --max-examples 100   # a quick check

Exit status: 0 all held, 1 a 5xx, a failed check, too few cases or a body check failed,
2 setup failed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import ipaddress
import json
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mockserver import Settings, Simulator, create_app
from mockserver.delivery.ssrf import offline_resolver
from mockserver.domain.timing import FAST
from mockserver.testing.server import serve_in_thread

KEY = "sk-fuzz"
KB = 1024
MB = 1024 * KB

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SetupError(Exception):
    """Something the fuzz run needs is missing or would not start (exit status 2)."""


# -- no DNS ---------------------------------------------------------------------------------------

_real_getaddrinfo = socket.getaddrinfo
dns_refused: list[str] = []


def _local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    """socket.getaddrinfo for IP literals and localhost only; any other name is refused."""
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name == "localhost":
        return _real_getaddrinfo(host, *args, **kwargs)
    try:
        ipaddress.ip_address(str(name).split("%")[0])
    except ValueError:
        dns_refused.append(str(name))
        raise socket.gaierror(socket.EAI_NONAME, f"{name}: DNS refused by bench/fuzz.py") from None
    return _real_getaddrinfo(host, *args, **kwargs)


# -- the server -----------------------------------------------------------------------------------


def route_of(path: str) -> str:
    if path.startswith("/v1/tasks/"):
        return "/v1/tasks/{task_id}"
    if path in ("/v1/videos/generations", "/openapi.json"):
        return path
    return "other"


class Counting:
    """ASGI wrapper: every response's (method, route, status), and body bytes the app read."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.statuses: collections.Counter[tuple[str, str, int]] = collections.Counter()
        self.exceptions = 0
        self.last_body_read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = (str(scope["method"]), route_of(str(scope["path"])))
        read = 0

        async def counting_receive() -> Message:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            self.last_body_read = read
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses[(*key, int(message["status"]))] += 1
            await send(message)

        self.last_body_read = 0
        try:
            await self.app(scope, counting_receive, counting_send)
        except Exception:
            self.exceptions += 1  # uvicorn answers 500 for it
            self.statuses[(*key, 500)] += 1
            raise


class UvicornRejects(logging.Handler):
    """Counts requests uvicorn refused itself (malformed HTTP): they never reach the app."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Invalid HTTP request" in record.getMessage():
            self.count += 1


@contextlib.contextmanager
def simulator_server() -> Iterator[tuple[str, Counting, UvicornRejects]]:
    settings = Settings(timings=FAST, api_keys=frozenset({KEY}), clock="virtual")
    sim = Simulator(settings, resolver=offline_resolver)
    counting = Counting(create_app(simulator=sim))
    rejects = UvicornRejects()
    with serve_in_thread(counting) as url:
        logger = logging.getLogger("uvicorn.error")  # configured by now: add to it, not before
        logger.addHandler(rejects)
        try:
            yield url, counting, rejects
        finally:
            logger.removeHandler(rejects)


# -- 1. schemathesis ------------------------------------------------------------------------------


@dataclass
class FuzzResult:
    seconds: float
    exit_code: int
    cases: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int | None] = field(default_factory=collections.Counter)
    failed_checks: collections.Counter[str] = field(default_factory=collections.Counter)
    summary_line: str = ""

    @property
    def total_cases(self) -> int:
        return sum(self.cases.values())

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s is not None and s >= 500)


def read_report(events: Iterable[str], result: FuzzResult) -> None:
    """Count the cases, statuses and failed checks of schemathesis' NDJSON report in `result`."""
    seen: set[str] = set()
    for line in events:
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        # a phase schemathesis skips (no negative data for `GET /v1/credits`, which takes
        # no input) finishes with no recorder, or one without cases
        recorder = finished.get("recorder") or {}
        for case_id in recorder.get("cases", ()):
            if case_id not in seen:
                seen.add(case_id)
                result.cases[(finished["phase"], recorder["label"])] += 1
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response")
            result.statuses[response["status_code"] if response else None] += 1
        for checks in recorder.get("checks", {}).values():
            for check in checks:
                if check["status"] != "success":
                    result.failed_checks[check["name"]] += 1


def run_schemathesis(
    url: str, max_examples: int, seed: int, timeout: float, workdir: Path
) -> FuzzResult:
    config = workdir / "schemathesis.toml"
    config.write_text("# bench/fuzz.py: everything is on the command line\n")
    report = workdir / "events.ndjson"
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--url",
        url,
        "--mode",
        "negative",
        "--phases",
        "coverage,fuzzing",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "-H",
        f"Authorization: Bearer {KEY}",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    print("$ python " + shlex.join(argv[1:]).replace(str(workdir), "$TMP"), flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SetupError(f"schemathesis did not finish within {timeout:g} s") from None
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    seconds = time.monotonic() - start
    (workdir / "schemathesis.log").write_text(out)
    if not report.exists():
        raise SetupError(f"schemathesis wrote no report (exit {proc.returncode}):\n{out[-3000:]}")
    result = FuzzResult(seconds=seconds, exit_code=proc.returncode)
    with report.open(encoding="utf-8") as events:
        read_report(events, result)
    match = re.search(r"^Test cases:\s*\n\s*(.+)$", out, re.MULTILINE)
    result.summary_line = match.group(1).strip() if match else "(no summary line found)"
    return result


# -- 2. oversized body ----------------------------------------------------------------------------


def _proc_kb(name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise SetupError(f"/proc/self/status has no {name}")


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError as exc:
        raise SetupError(
            f"cannot reset the peak RSS through /proc/self/clear_refs: {exc}"
        ) from None


def trim() -> None:
    """Give the heap's free memory back to the system (glibc), so that an allocation shows in
    RSS instead of reusing pages that are resident already (after the fuzz run, megabytes are)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class Memory:
    """Two views of what a block of code made this process hold at its peak."""

    rss_before_kb: int = 0
    rss_peak_kb: int = 0  # VmHWM
    rss_after_kb: int = 0
    traced_growth: int = 0  # tracemalloc: peak of Python allocations minus before, bytes

    @property
    def rss_growth_kb(self) -> int:
        return self.rss_peak_kb - self.rss_before_kb

    def describe(self) -> str:
        return (
            f"peak Python allocations +{self.traced_growth / MB:.2f} MB (tracemalloc); "
            f"RSS {self.rss_before_kb / KB:.1f} MB, peak {self.rss_peak_kb / KB:.1f} MB "
            f"(+{self.rss_growth_kb / KB:.2f}), after {self.rss_after_kb / KB:.1f} MB"
        )


@contextlib.contextmanager
def measure() -> Iterator[Memory]:
    memory = Memory()
    trim()
    tracemalloc.start()
    try:
        reset_peak()
        memory.rss_before_kb = _proc_kb("VmRSS")
        traced_before = tracemalloc.get_traced_memory()[0]
        yield memory
        memory.traced_growth = tracemalloc.get_traced_memory()[1] - traced_before
        memory.rss_peak_kb = _proc_kb("VmHWM")
        memory.rss_after_kb = _proc_kb("VmRSS")
    finally:
        tracemalloc.stop()


@dataclass
class BodyCheck:
    label: str
    status: int | None
    envelope: dict[str, Any] | None
    sent_bytes: int
    app_read_bytes: int
    memory: Memory
    seconds: float
    error: str = ""

    def passed(self, limit: int) -> bool:
        err = (self.envelope or {}).get("error")
        return (
            self.status == 400
            and isinstance(err, dict)
            and err.get("code") == "invalid_request"
            and isinstance(err.get("message"), str)
            and isinstance(err.get("type"), str)
            and self.memory.traced_growth < limit
            and self.memory.rss_growth_kb * KB < limit
        )


def oversized_body(url: str, counting: Counting, size: int, chunked: bool) -> BodyCheck:
    chunk = b"a" * (64 * KB)
    head = b'{"model":"sora-2-pro-preview","prompt":"'
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        sent = len(head)
        yield head
        while sent < size:
            piece = chunk if size - sent >= len(chunk) else chunk[: size - sent]
            sent += len(piece)
            yield piece

    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if not chunked:
        headers["Content-Length"] = str(size)
    label = "chunked, no length" if chunked else f"Content-Length: {size}"
    status, envelope, error = None, None, ""
    with httpx.Client(timeout=30.0) as client:
        client.get(f"{url}/_mock/health")  # the connection pool and first-use costs, beforehand
        with measure() as memory:
            start = time.monotonic()
            try:
                response = client.post(
                    f"{url}/v1/videos/generations", content=body(), headers=headers
                )
                status = response.status_code
                with contextlib.suppress(ValueError):
                    envelope = response.json()
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            seconds = time.monotonic() - start
    return BodyCheck(
        label=label,
        status=status,
        envelope=envelope,
        sent_bytes=sent,
        app_read_bytes=counting.last_body_read,
        memory=memory,
        seconds=seconds,
        error=error,
    )


def control_allocation(size: int) -> Memory:
    """What holding `size` bytes costs on both measures: what reading the body would have."""
    with measure() as memory:
        block = b"x" * size  # written, so every page is resident
        del block
    return memory


# -- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        default=2_500,
        metavar="N",
        help="schemathesis fuzzing cases per operation (default: 2,500; 2 operations)",
    )
    parser.add_argument(
        "--min-cases",
        type=int,
        default=5_000,
        help="fail unless schemathesis generated at least this many cases (default: 5,000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="schemathesis seed (default: 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1_200,
        help="schemathesis time limit, seconds (default: 1,200)",
    )
    parser.add_argument(
        "--body-mb", type=float, default=10.0, help="oversized body size, MB (default: 10)"
    )
    parser.add_argument(
        "--mem-limit-mb",
        type=float,
        default=2.0,
        help=(
            "the oversized body may raise peak RSS and peak Python allocations by less than "
            "this (default: 2 MB)"
        ),
    )
    args = parser.parse_args(argv)

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through serve_in_thread, which stops the server

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    socket.getaddrinfo = _local_getaddrinfo
    try:
        return fuzz(args)
    except SetupError as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fuzz: interrupted; server stopped", file=sys.stderr)
        return 130
    finally:
        socket.getaddrinfo = _real_getaddrinfo


def fuzz(args: argparse.Namespace) -> int:
    problems: list[str] = []
    with (
        simulator_server() as (url, counting, rejects),
        tempfile.TemporaryDirectory(prefix="fuzz-") as tmp,
    ):
        print(f"server: in-process on {url} (api key {KEY}, virtual clock, offline resolver)")
        result = run_schemathesis(url, args.max_examples, args.seed, args.timeout, Path(tmp))
        server_statuses = collections.Counter(counting.statuses)

        size = int(args.body_mb * MB)
        checks = [oversized_body(url, counting, size, chunked) for chunked in (False, True)]
        control = control_allocation(size)

    print()
    print(f"1. schemathesis, negative mode, coverage + fuzzing, seed {args.seed}")
    print(f"   time: {result.seconds:.1f} s; exit code {result.exit_code}")
    print(f"   its summary: {result.summary_line}")
    print(f"   {'phase':<10}{'operation':<30}{'cases':>8}")
    for (phase, label), n in sorted(result.cases.items()):
        print(f"   {phase:<10}{label:<30}{n:>8,}")
    print(f"   {'total':<40}{result.total_cases:>8,}  (required: >= {args.min_cases:,})")
    hist = ", ".join(
        f"{'none' if s is None else s}: {n:,}"
        for s, n in sorted(result.statuses.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))
    )
    print(f"   responses it recorded, by status: {{{hist}}}")
    failed = dict(result.failed_checks)
    print(f"   5xx it recorded: {result.server_errors}; failed checks: {failed}")
    print("   server side, every response:")
    for (method, route, status), n in sorted(server_statuses.items()):
        print(f"     {method:<8}{route:<28}{status:>4}  {n:>7,}")
    server_5xx = sum(n for (_, _, s), n in server_statuses.items() if s >= 500)
    print(f"   5xx the server sent: {server_5xx}; unhandled exceptions: {counting.exceptions}")
    print(
        f"   malformed requests uvicorn answered itself (never reaching the app): {rejects.count}"
    )
    print(f"   DNS lookups refused in this process: {len(dns_refused)}")

    if result.total_cases < args.min_cases:
        problems.append(f"only {result.total_cases:,} cases (< {args.min_cases:,})")
    if result.server_errors or server_5xx or counting.exceptions:
        problems.append(f"5xx: {result.server_errors} recorded, {server_5xx} sent by the server")
    if result.failed_checks:
        problems.append(f"failed checks: {dict(result.failed_checks)}")
    if result.exit_code != 0:
        problems.append(f"schemathesis exited {result.exit_code} (see its output above)")
    if dns_refused:
        problems.append(f"DNS was attempted for {sorted(set(dns_refused))[:5]}")

    limit = int(args.mem_limit_mb * MB)
    print()
    print(f"2. oversized create body: {size:,} bytes ({args.body_mb:g} MB), 64 KB chunks")
    print(f"   control, holding {args.body_mb:g} MB: {control.describe()}")
    for c in checks:
        err = (c.envelope or {}).get("error", {})
        verdict = "ok" if c.passed(limit) else "FAIL"
        print(f"   {c.label}: {verdict}")
        print(f"     answer: {c.status} {json.dumps(c.envelope) if c.envelope else c.error}")
        print(
            f"     client sent {c.sent_bytes / MB:.2f} MB in {c.seconds:.2f} s; "
            f"the application read {c.app_read_bytes:,} bytes of it"
        )
        print(f"     {c.memory.describe()}; limit +{args.mem_limit_mb:g} MB on both")
        if not c.passed(limit):
            problems.append(f"oversized body ({c.label}): {c.status} {err or c.error}")
    if control.traced_growth < 0.9 * size or control.rss_growth_kb * KB < 0.9 * size:
        problems.append("the control allocation did not show on both measures: they are blind")

    print()
    if problems:
        print("fuzz: FAIL: " + "; ".join(problems))
        return 1
    print(f"fuzz: PASS: {result.total_cases:,} negative cases, no 5xx; oversized bodies refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
