"""Soak: 200 connections of mixed create/query traffic for a minute, then queries only; memory.

Starts `python -m mockserver.cli.main serve` on a free port of 127.0.0.1 (in memory, or --db PATH),
then runs wrk with bench/soak.lua:

1. a short warm-up of the mixed traffic (not measured);
2. **mixed**: --duration seconds of 1 create for every --ratio queries; the queries ask for ids the
   Lua script harvested from earlier 200 responses, so they hit real tasks;
3. **queries only**: --query-duration seconds (default: --duration) of queries of a random sample
   of the ids created in phase 2. No task is created, so the server's memory should stay flat.

The server's VmRSS (/proc/PID/status) and stored tasks (GET /_mock/health) are sampled every
second. Printed: requests/s, p50/p99, requests, non-2xx responses and socket errors per phase;
RSS at the start and end of each phase and its peak; RSS per 1,000 stored tasks; RSS minus the
stored tasks' own memory (bytes per task measured in-process with tracemalloc, as
bench/query_scale.py does); and whether RSS stayed within --flat-tolerance % during the
queries-only phase.

    python bench/soak.py                  # 60 s mixed + 60 s queries only, about 2.5 minutes
    python bench/soak.py --duration 10    # a quick check

Exit status: 0 no error and flat memory, 1 an error (non-2xx, socket error, the server died) or
memory not flat, 2 setup failed. The server is stopped on every exit path, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _proc
from _proc import HOST, Server, SetupError, free_ports

from mockserver.domain.timing import FAST

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
LOGS = BENCH / ".cache" / "logs"
RESULTS = BENCH / "results"
LUA = BENCH / "soak.lua"

KEY = "sk-soak"
CREATE_PATH = "/v1/videos/generations"
BODY = b'{"model":"sora-2-pro-preview","prompt":"A cat playing piano","duration":8}'
MB = 1024 * 1024


# -- the server -----------------------------------------------------------------------------------


def request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {KEY}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return _proc.request(port, method, path, body, headers, timeout)


def rss_kb(pid: int) -> int | None:
    """VmRSS of `pid` in kB, or None once the process is gone."""
    return _status_field(pid, "VmRSS")


def _status_field(pid: int, name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def stored_tasks(port: int) -> int | None:
    with contextlib.suppress(OSError, http.client.HTTPException, ValueError, KeyError):
        status, body = request(port, "GET", "/_mock/health", timeout=2.0)
        if status == 200:
            return int(json.loads(body)["tasks"])
    return None


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        server.start()
        server.wait_ready(30.0, ready=lambda: stored_tasks(server.port) is not None)
        yield server
    finally:
        server.stop()


# -- sampling -------------------------------------------------------------------------------------


@dataclass
class Sample:
    t: float  # seconds since the sampler started
    phase: str
    rss_kb: int | None
    tasks: int | None


class Sampler:
    """VmRSS and stored tasks once a second, labelled with the current phase, in a thread."""

    def __init__(self, server: Server, interval: float = 1.0) -> None:
        self.server = server
        self.interval = interval
        self.phase = "idle"
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._t0 = time.monotonic()

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            self.take()
            tick += 1
            # fixed ticks, so a slow health answer does not stretch the interval
            self._stop.wait(max(0.0, self._t0 + tick * self.interval - time.monotonic()))

    def take(self) -> Sample:
        sample = Sample(
            t=round(time.monotonic() - self._t0, 2),
            phase=self.phase,
            rss_kb=rss_kb(self.server.pid),
            tasks=stored_tasks(self.server.port),
        )
        self.samples.append(sample)
        return sample

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def peak_kb(self, phase: str) -> int | None:
        values = [s.rss_kb for s in self.samples if s.phase == phase and s.rss_kb is not None]
        return max(values) if values else None


# -- wrk ------------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    seconds: float
    requests: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    creates_sent: int
    queries_sent: int
    non2xx: int
    statuses: dict[str, int]
    socket_errors: dict[str, int]
    harvested: int
    fallback_used: int
    rss_start_kb: int | None = None
    rss_end_kb: int | None = None
    rss_peak_kb: int | None = None
    tasks_start: int | None = None
    tasks_end: int | None = None
    sample_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + sum(self.socket_errors.values())


@dataclass(frozen=True)
class WrkOptions(_proc.WrkOptions):
    ratio: int  # queries per create in the mixed phase


def run_wrk(
    opts: WrkOptions, name: str, mode: str, seconds: float, port: int, ids_file: Path
) -> Phase:
    argv = opts.argv(
        seconds, LUA, f"http://{HOST}:{port}", mode, str(opts.ratio), KEY, str(ids_file)
    )
    # wrk stops by itself after `seconds`; the timeout is a backstop. Its own session, killed in
    # `finally`, so an interrupted soak leaves no wrk behind.
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    with (LOGS / "soak-wrk.log").open("a", encoding="utf-8") as log:
        log.write(f"== {name}: {' '.join(argv)}\n")
        log.write("\n".join(ln for ln in out.splitlines() if not ln.startswith("SOAK_JSON ")))
        log.write(f"\n{err}")
    line = next((ln for ln in out.splitlines() if ln.startswith("SOAK_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise SetupError(f"wrk failed ({proc.returncode}): {err.strip() or out.strip()}")
    data: dict[str, Any] = json.loads(line.removeprefix("SOAK_JSON "))
    return Phase(
        name=name,
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        p50_ms=data["p50_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        p999_ms=data["p999_us"] / 1e3,
        max_ms=data["max_us"] / 1e3,
        creates_sent=data["creates_sent"],
        queries_sent=data["queries_sent"],
        non2xx=data["non2xx"],
        statuses=dict(sorted(data["statuses"].items())),
        socket_errors={k: data[k] for k in ("connect", "read", "write", "timeout")},
        harvested=data["harvested"],
        fallback_used=data["fallback_used"],
        sample_ids=data["sample_ids"],
    )


# -- bytes per stored task, in-process ------------------------------------------------------------


def bytes_per_task(count: int) -> float:
    """What one stored task costs the Python heap (tracemalloc), filled through the real create
    path on the server's own settings (real clock, no callbacks)."""
    from mockserver import Settings, Simulator, create_app

    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Bearer {KEY}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": CREATE_PATH,
        "raw_path": CREATE_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "server": (HOST, 8000),
        "client": (HOST, 50000),
        "headers": headers,
    }

    async def fill() -> float:
        sim = Simulator(Settings(timings=FAST, api_keys=frozenset({KEY})))
        app = create_app(simulator=sim)
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        for _ in range(200):  # warm-up: first-use caches are not per-task cost
            await app(dict(scope), receive, send)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(count):
                await app(dict(scope), receive, send)
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
            await sim.aclose()
        if set(statuses) != {200}:
            raise SetupError(f"in-process creates answered {sorted(set(statuses))}")
        return (after - before) / count

    return asyncio.run(fill())


# -- report ---------------------------------------------------------------------------------------


def mb(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024:,.1f}"


def pct(new: int | None, old: int | None) -> float | None:
    if new is None or not old:
        return None
    return (new - old) / old * 100


def fmt_num(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def print_phases(phases: Sequence[Phase]) -> None:
    head = (
        f"{'phase':<13}{'seconds':>8}{'requests':>10}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'p99.9':>8}{'max ms':>8}{'creates':>10}{'queries':>11}{'non-2xx':>8}"
        f"  socket errors c/r/w/t"
    )
    print(head)
    for p in phases:
        e = p.socket_errors
        print(
            f"{p.name:<13}{p.seconds:>8.1f}{p.requests:>10,}{p.rps:>8,.0f}{p.p50_ms:>8.1f}"
            f"{p.p99_ms:>8.1f}{p.p999_ms:>8.1f}{p.max_ms:>8.1f}{p.creates_sent:>10,}"
            f"{p.queries_sent:>11,}{p.non2xx:>8,}  "
            f"{e['connect']}/{e['read']}/{e['write']}/{e['timeout']}"
        )
    for p in phases:
        hist = ", ".join(f"{k}: {v:,}" for k, v in p.statuses.items())
        print(f"  {p.name}: statuses {{{hist}}}; ids harvested {p.harvested:,}", end="")
        print(f"; queries of ids passed in (not harvested) {p.fallback_used:,}")


def print_memory(
    mixed: Phase, query: Phase | None, per_task: float | None, hwm: int | None
) -> None:
    print()
    print("server memory (VmRSS of the server process, sampled every second)")
    print(f"{'':<30}{'RSS MB':>9}{'tasks':>10}")
    rows: list[tuple[str, int | None, int | None]] = [
        ("mixed: start (after warm-up)", mixed.rss_start_kb, mixed.tasks_start),
        ("mixed: end", mixed.rss_end_kb, mixed.tasks_end),
        ("mixed: peak", mixed.rss_peak_kb, None),
    ]
    if query is not None:
        rows += [
            ("queries only: start", query.rss_start_kb, query.tasks_start),
            ("queries only: end", query.rss_end_kb, query.tasks_end),
            ("queries only: peak", query.rss_peak_kb, None),
        ]
    rows.append(("kernel peak (VmHWM) at the end", hwm, None))
    for label, rss, tasks in rows:
        print(f"{label:<30}{mb(rss):>9}{'' if tasks is None else f'{tasks:,}':>10}")
    last = query or mixed
    if last.rss_end_kb and last.tasks_end:
        whole = last.rss_end_kb * 1024 / last.tasks_end * 1000 / MB
        print(f"RSS per 1,000 stored tasks at the end (whole process): {whole:.2f} MB")
    grown = (mixed.tasks_end or 0) - (mixed.tasks_start or 0)
    if mixed.rss_end_kb and mixed.rss_start_kb and grown > 0:
        slope = (mixed.rss_end_kb - mixed.rss_start_kb) * 1024 / grown
        print(
            f"RSS growth during mixed per 1,000 tasks created: {slope * 1000 / MB:.2f} MB "
            f"({slope:,.0f} bytes per task)"
        )
    if per_task is not None:
        print(f"bytes per stored task (tracemalloc, in-process): {per_task:,.0f}")
        for label, rss, tasks in (
            ("mixed: start", mixed.rss_start_kb, mixed.tasks_start),
            ("mixed: end", mixed.rss_end_kb, mixed.tasks_end),
            *(
                [("queries only: end", query.rss_end_kb, query.tasks_end)]
                if query is not None
                else []
            ),
        ):
            if rss is not None and tasks is not None:
                rest = rss * 1024 - tasks * per_task
                print(f"  RSS - tasks x {per_task:,.0f} B, {label:<18} {rest / MB:>8.1f} MB")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="mixed phase, seconds (default: 60)"
    )
    parser.add_argument(
        "--query-duration",
        type=float,
        help="queries-only phase, seconds (default: --duration; 0 skips it)",
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="unmeasured warm-up, seconds (default: 5)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default: 2)")
    parser.add_argument(
        "--connections", type=int, default=200, help="wrk connections (default: 200)"
    )
    parser.add_argument(
        "--ratio", type=int, default=4, help="queries per create in the mixed phase (default: 4)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help=(
            "wrk counts a socket timeout for a request still unanswered after this many seconds "
            "(default: 5; wrk's own is 2, which the bare-Starlette ceiling itself exceeds now "
            "and then at 200 connections on 2 cores)"
        ),
    )
    parser.add_argument("--db", metavar="PATH", help="passed to the server (default: in memory)")
    parser.add_argument(
        "--flat-tolerance",
        type=float,
        default=5.0,
        metavar="PCT",
        help="the queries-only phase's RSS may move this many %% (default: 5)",
    )
    parser.add_argument(
        "--measure-tasks",
        type=int,
        default=20_000,
        metavar="N",
        help="tasks to fill in-process for bytes per task (default: 20,000; 0 skips it)",
    )
    args = parser.parse_args(argv)
    query_seconds = args.duration if args.query_duration is None else args.query_duration
    for name, value in (("--duration", args.duration), ("--warmup", args.warmup)):
        if not 0 < value <= 3600:
            parser.error(f"{name} must be in (0, 3600]")
    if not 0 <= query_seconds <= 3600:
        parser.error("--query-duration must be in [0, 3600]")

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through `running`, which stops the server

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        return soak(args, query_seconds)
    except SetupError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("soak: interrupted; server stopped", file=sys.stderr)
        return 130


def soak(args: argparse.Namespace, query_seconds: float) -> int:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SetupError("wrk is not on PATH (Debian/Ubuntu: apt-get install -y wrk)")
    opts = WrkOptions(wrk, args.threads, args.connections, args.timeout, args.ratio)
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "soak-wrk.log").write_text("")

    per_task = None
    if args.measure_tasks > 0:
        print(f"measuring bytes per stored task in-process ({args.measure_tasks:,} tasks) ...")
        per_task = bytes_per_task(args.measure_tasks)

    (port,) = free_ports(1)
    argv = [sys.executable, "-m", "mockserver.cli.main", "serve", "--port", str(port)]
    argv += ["--log-level", "warning", "--api-key", KEY]
    if args.db:
        argv += ["--db", args.db]
    server = Server("the server", argv, port, LOGS / "soak-server.log")
    phases: list[Phase] = []
    problems: list[str] = []
    with running(server), tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        status, body = request(port, "POST", CREATE_PATH, BODY)
        if status != 200:
            raise SetupError(f"the first create answered {status}: {body[:300]!r}")
        first = json.loads(body)["id"]
        status, body = request(port, "GET", f"/v1/tasks/{first}")
        if status != 200:
            raise SetupError(f"querying {first} answered {status}: {body[:300]!r}")
        ids_file = Path(tmp) / "ids.txt"
        ids_file.write_text(first + "\n")
        store = "--db " + args.db if args.db else "in memory"
        print(f"server: {' '.join(argv[1:])}  (pid {server.pid}, {store})")
        print(
            f"wrk: -t{opts.threads} -c{opts.connections} --timeout {opts.timeout:g}s; mixed = "
            f"1 create : {opts.ratio} queries for {args.duration:g} s, then queries only for "
            f"{query_seconds:g} s (warm-up {args.warmup:g} s)",
            flush=True,
        )

        with Sampler(server) as sampler:

            def run(name: str, mode: str, seconds: float) -> Phase:
                sampler.phase = name
                start = sampler.take()
                phase = run_wrk(opts, name, mode, seconds, port, ids_file)
                end = sampler.take()
                sampler.phase = "between"
                phase.rss_start_kb, phase.tasks_start = start.rss_kb, start.tasks
                phase.rss_end_kb, phase.tasks_end = end.rss_kb, end.tasks
                phase.rss_peak_kb = sampler.peak_kb(name)
                print(
                    f"  {name}: {phase.requests:,} requests, {phase.rps:,.0f}/s, "
                    f"{phase.errors:,} errors, RSS {mb(phase.rss_start_kb)} -> "
                    f"{mb(phase.rss_end_kb)} MB",
                    flush=True,
                )
                if not server.alive():
                    raise SetupError(f"the server died during {name}; see {server.log_path}")
                return phase

            phases.append(run("warm-up", "mixed", args.warmup))
            mixed = run("mixed", "mixed", args.duration)
            phases.append(mixed)
            query = None
            if query_seconds > 0:
                ids = mixed.sample_ids or [first]
                ids_file.write_text("\n".join(ids) + "\n")
                query = run("queries only", "query", query_seconds)
                phases.append(query)
        hwm = _status_field(server.pid, "VmHWM")
        alive = server.alive()

    print()
    print_phases(phases)
    print_memory(mixed, query, per_task, hwm)

    for p in phases:
        if p.requests == 0:
            problems.append(f"{p.name}: no request completed")
        if p.non2xx:
            problems.append(f"{p.name}: {p.non2xx:,} non-2xx responses")
        if any(p.socket_errors.values()):
            problems.append(f"{p.name}: socket errors {p.socket_errors}")
    if not alive:
        problems.append("the server had exited before it was stopped")
    if query is not None:
        if query.tasks_start != query.tasks_end:
            problems.append(
                f"queries only: stored tasks moved {query.tasks_start} -> {query.tasks_end}"
            )
        change = pct(query.rss_end_kb, query.rss_start_kb)
        if change is None:
            problems.append("queries only: RSS could not be read")
        else:
            flat = abs(change) <= args.flat_tolerance
            verdict = "flat" if flat else "NOT flat"
            print(
                f"queries only: RSS {mb(query.rss_start_kb)} -> {mb(query.rss_end_kb)} MB, "
                f"{change:+.2f} % (tolerance {args.flat_tolerance:g} %): {verdict}"
            )
            if not flat:
                problems.append(f"queries only: RSS moved {change:+.2f} %")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"soak-{stamp}.json"
    record = {
        "argv": argv[1:],
        "options": vars(args),
        "bytes_per_task_tracemalloc": per_task,
        "vmhwm_kb": hwm,
        "phases": [{k: v for k, v in asdict(p).items() if k != "sample_ids"} for p in phases],
        "samples": [asdict(s) for s in sampler.samples],
        "problems": problems,
    }
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"raw samples: {out.relative_to(ROOT)}; logs: {LOGS.relative_to(ROOT)}/soak-*.log")
    print()
    if problems:
        print("soak: FAIL: " + "; ".join(problems))
        return 1
    print("soak: PASS: no error, memory flat while only querying")
    return 0


if __name__ == "__main__":
    sys.exit(main())
