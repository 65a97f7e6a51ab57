"""Throughput and latency of evolink-mock against the mock servers a team would pick instead, and
a bare-Starlette ceiling, with wrk.

Servers on 127.0.0.1, each on a free port: ours (`python -m mockserver.cli.main serve`); Prism
mocking the same merged spec; WireMock standalone answering a canned create and query (ours'
own answers, registered as stubs); Mockoon CLI serving the merged spec as `mockoon-cli import`
makes it; and bench/ceiling.py. wrk hits each in turn with the same threads, connections,
duration and request, alternating round after round so machine noise hits all alike. Queries
(GET /v1/tasks/{id}) run against ours, the ceiling, WireMock and Mockoon (Prism keeps no task
state and answers an example only for the create it validates). Medians over rounds are printed
with the ratios, the targets and the aims.

    bash bench/compare.sh --duration 10 --rounds 3

Installs what it lacks: Prism, WireMock (its standalone jar, in npm's `wiremock` package) and
Mockoon's CLI into bench/.cache (npm); wrk and, for WireMock, a Java runtime from Debian (root
only). Exit status: 0 every target passed and every run was clean, 1 otherwise, 2 setup failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _proc
import startup
from _proc import HOST, Server, SetupError, WrkOptions, free_ports

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
CACHE = BENCH / ".cache"
PRISM_DIR = CACHE / "prism"
PRISM_BIN = PRISM_DIR / "node_modules" / ".bin" / "prism"
WIREMOCK_DIR = CACHE / "wiremock"
MOCKOON_DIR = CACHE / "mockoon"
MOCKOON_BIN = MOCKOON_DIR / "node_modules" / ".bin" / "mockoon-cli"
MOCKOON_DATA = CACHE / "mockoon-environment.json"
SPEC = CACHE / "openapi.json"
LOGS = CACHE / "logs"
RESULTS = BENCH / "results"

CREATE_PATH = "/v1/videos/generations"
QUERY_PATH = "/v1/tasks/{}"
BODY = b'{"model":"sora-2-pro-preview","prompt":"A cat playing piano","duration":8}'
HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json"}

OURS, PRISM, CEILING = "ours", "prism", "ceiling"
WIREMOCK, MOCKOON = "wiremock", "mockoon"
#: the servers that keep no state: any task id is answered with the canned query
CANNED_QUERY_ID = "task-unified-1757169743-7cvnl5zw"
CREATE, QUERY = "create", "query"


# -- setup ----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    return apt_install("wrk", "wrk", "the load generator; macOS: `brew install wrk`")


def npm_install(package: str, prefix: Path, binary: Path, what: str) -> Path:
    """`binary` after `npm install --prefix PREFIX PACKAGE` (skipped when it is there)."""
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if not npm:
        raise SetupError(f"npm is not on PATH: install Node.js (>= 18) and npm to fetch {what}")
    print(f"installing {what}: npm install --prefix {prefix} {package}", flush=True)
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), package]
    if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode != 0:
        raise SetupError(f"npm install {package} failed")
    if not binary.exists():
        raise SetupError(f"npm finished but {binary} is missing")
    return binary


def ensure_prism() -> Path:
    return npm_install("@stoplight/prism-cli", PRISM_DIR, PRISM_BIN, "Prism")


def apt_install(command: str, package: str, what: str) -> str:
    """`command` on PATH, installed from Debian's `package` when missing and running as root."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        raise SetupError(
            f"{command} is not on PATH ({what}). Install it (Debian/Ubuntu: "
            f"`sudo apt-get install -y {package}`) and run again."
        )
    print(f"installing {package}: apt-get update && apt-get install -y {package}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        if subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            raise SetupError(f"`{' '.join(cmd)}` failed; install {package} by hand and run again")
    found = shutil.which(command)
    if not found:
        raise SetupError(f"apt-get installed {package} but {command} is not on PATH")
    return found


def ensure_wiremock() -> tuple[str, Path]:
    """The Java runtime and WireMock's standalone jar (npm's `wiremock` package ships it)."""
    java = apt_install("java", "openjdk-17-jre-headless", "WireMock runs on Java")
    marker = WIREMOCK_DIR / "node_modules" / "wiremock" / "package.json"
    npm_install("wiremock", WIREMOCK_DIR, marker, "WireMock")
    jars = sorted((WIREMOCK_DIR / "node_modules" / "wiremock").glob("**/wiremock-standalone-*.jar"))
    if not jars:
        raise SetupError(f"no wiremock-standalone-*.jar under {WIREMOCK_DIR}")
    return java, jars[-1]


def ensure_mockoon() -> Path:
    """Mockoon's CLI, and the merged spec imported as its environment (its own importer)."""
    binary = npm_install("@mockoon/cli", MOCKOON_DIR, MOCKOON_BIN, "Mockoon CLI")
    argv = [str(binary), "import", "--input", str(SPEC), "--output", str(MOCKOON_DATA)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0 or not MOCKOON_DATA.exists():
        raise SetupError(f"mockoon-cli import failed: {done.stderr.strip() or done.stdout}")
    return binary


def ours_env(src: Path | None) -> dict[str, str]:
    """The environment of our server: with `src`, mockserver is imported from that folder."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return env


def write_spec(src: Path | None) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "mockserver.cli.main", "spec"]
    with SPEC.open("w", encoding="utf-8") as out:
        done = subprocess.run(argv, stdout=out, env=ours_env(src), cwd=CACHE)
    if done.returncode != 0:
        raise SetupError("`python -m mockserver.cli.main spec` failed")


def ours_revision(src: Path | None) -> str:
    """Which code "ours" runs: the commit of the checkout (+dirty), or the --ours-src folder."""
    if src is not None:
        return f"--ours-src {src}"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "mockserver", "openapi"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def session_cpu_seconds(sid: int) -> float | None:
    """User + system CPU seconds of every live process in session `sid` (Linux /proc), or None.

    Each server runs in its own session, so this is the server with any children it spawned.
    Unlike requests/s, CPU per request hardly moves when other work shares the machine.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # the command name (2nd field) may hold spaces: split after its closing paren
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[3]) == sid:  # fields[3] is field 6 of proc(5): the session id
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# -- servers --------------------------------------------------------------------------------------


def servers(
    log_level: str,
    prism_log_level: str,
    ours_src: Path | None,
    wiremock: tuple[str, Path] | None = None,
    mockoon: Path | None = None,
) -> dict[str, Server]:
    """Every server to compare, not started: ours, Prism, WireMock (given its Java and jar),
    Mockoon (given its CLI), then the ceiling. Each peer runs at its default logging."""
    ours, prism, ceiling, wiremock_port, mockoon_port = free_ports(5)
    py = sys.executable
    level = ["--log-level", log_level]
    prism_argv = [str(PRISM_BIN), "mock", "-h", HOST, "-p", str(prism)]
    group = {
        OURS: Server(
            OURS,
            [py, "-m", "mockserver.cli.main", "serve", "--port", str(ours), *level],
            ours,
            LOGS / f"{OURS}.log",
            env=ours_env(ours_src),
            cwd=CACHE,  # not the repo root, which `python -m` would put before PYTHONPATH
        ),
        PRISM: Server(
            PRISM,
            [*prism_argv, "--verboseLevel", prism_log_level, str(SPEC)],
            prism,
            LOGS / f"{PRISM}.log",
            cwd=CACHE,
        ),
    }
    if wiremock is not None:
        java, jar = wiremock
        root = CACHE / "wiremock-root"  # its mappings and files: none, the stubs are posted
        (root / "mappings").mkdir(parents=True, exist_ok=True)
        group[WIREMOCK] = Server(
            WIREMOCK,
            [
                java,
                "-jar",
                str(jar),
                "--port",
                str(wiremock_port),
                "--bind-address",
                HOST,
                "--root-dir",
                str(root),
                "--disable-banner",
            ],
            wiremock_port,
            LOGS / f"{WIREMOCK}.log",
            cwd=CACHE,
        )
    if mockoon is not None:
        group[MOCKOON] = Server(
            MOCKOON,
            [
                str(mockoon),
                "start",
                "--data",
                str(MOCKOON_DATA),
                "--port",
                str(mockoon_port),
                "--hostname",
                HOST,
                "--disable-log-to-file",
            ],
            mockoon_port,
            LOGS / f"{MOCKOON}.log",
            cwd=CACHE,
        )
    group[CEILING] = Server(
        CEILING,
        [py, str(BENCH / "ceiling.py"), "--port", str(ceiling), *level],
        ceiling,
        LOGS / f"{CEILING}.log",
        cwd=CACHE,
    )
    return group


def stub_wiremock(server: Server, create_answer: bytes, query_answer: bytes) -> None:
    """WireMock's canned answers: ours' own create and query bodies, for any body and task id."""
    stubs = [
        {
            "request": {"method": "POST", "urlPath": CREATE_PATH},
            "response": {"status": 200, "body": create_answer.decode(), "headers": JSON_HEADER},
        },
        {
            "request": {"method": "GET", "urlPathPattern": "/v1/tasks/[^/]+"},
            "response": {"status": 200, "body": query_answer.decode(), "headers": JSON_HEADER},
        },
    ]
    for stub in stubs:
        status, said = _proc.request(
            server.port, "POST", "/__admin/mappings", json.dumps(stub).encode(), JSON_HEADER
        )
        if status != 201:
            raise SetupError(f"wiremock: a stub was refused ({status}): {said[:300]!r}")


JSON_HEADER = {"Content-Type": "application/json"}


@contextlib.contextmanager
def running(group: dict[str, Server], timeout: float) -> Iterator[dict[str, Server]]:
    """Start every server, wait until each answers, and stop them all however this ends."""
    try:
        for server in group.values():
            server.start()
        for server in group.values():
            server.wait_ready(timeout)
            print(f"  {server.name:<8} ready on {server.url('')}", flush=True)
        yield group
    finally:
        for server in group.values():
            server.stop()


def request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    headers = HEADERS if body is not None else {"Authorization": HEADERS["Authorization"]}
    return _proc.request(port, method, path, body, headers, timeout)


def create_task(server: Server) -> str:
    """Create one task the way wrk will, check it is a 200 with an id, and return the id."""
    return create_answer(server)[0]


def create_answer(server: Server) -> tuple[str, bytes]:
    """`create_task`'s id, and the answer's body as it came."""
    status, body = request(server.port, "POST", CREATE_PATH, BODY)
    if status != 200:
        raise SetupError(f"{server.name}: create answered {status}: {body[:300]!r}")
    task_id = json.loads(body)["id"]
    assert isinstance(task_id, str)
    return task_id, body


def check_query(server: Server, task_id: str) -> None:
    status, body = request(server.port, "GET", QUERY_PATH.format(task_id))
    if status != 200:
        raise SetupError(f"{server.name}: query answered {status}: {body[:300]!r}")


# -- wrk ------------------------------------------------------------------------------------------


@dataclass
class Run:
    server: str
    op: str
    round: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int  # wrk counts responses with a status above 399
    socket_errors: dict[str, int] = field(default_factory=dict)
    cpu_seconds: float | None = None  # the server's CPU time during the run
    wrk_cpu_seconds: float | None = None  # wrk's own CPU time (user + system)

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        return self.requests > 0 and self.non_2xx == 0 and not any(self.socket_errors.values())


def _cpu(usage: resource.struct_rusage) -> tuple[float, float]:
    return usage.ru_utime, usage.ru_stime


def run_wrk(opts: WrkOptions, server: Server, op: str, url: str, seconds: float, rnd: int) -> Run:
    script = BENCH / ("post.lua" if op == CREATE else "get.lua")
    argv = opts.argv(seconds, script, url)
    assert server.proc is not None
    cpu_before = session_cpu_seconds(server.proc.pid)
    # the servers are not waited for during the run: what waited-for children used is wrk's
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # bounded: wrk stops by itself after `seconds`; the timeout is a backstop
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu_after = session_cpu_seconds(server.proc.pid)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = sum(
        after - before for after, before in zip(_cpu(wrk_after), _cpu(wrk_before), strict=True)
    )
    with (LOGS / "wrk.log").open("a", encoding="utf-8") as log:
        log.write(f"== {server.name} {op} round {rnd}: {' '.join(argv)}\n{done.stdout}")
        log.write(done.stderr)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SetupError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    data: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    return Run(
        server=server.name,
        op=op,
        round=rnd,
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1e3,
        p99_ms=data["p99_us"] / 1e3,
        non_2xx=data["status"],
        socket_errors={k: data[k] for k in ("connect", "read", "write", "timeout")},
        cpu_seconds=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        wrk_cpu_seconds=wrk_cpu,
    )


# -- report ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    server: str
    op: str
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None  # server CPU microseconds per request
    cpu_load: float | None  # server CPU seconds per wall second (1.0 = one core busy)
    rounds: list[float]


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def summarise(runs: Sequence[Run], server: str, op: str) -> Summary | None:
    mine = [r for r in runs if r.server == server and r.op == op]
    if not mine:
        return None
    return Summary(
        server=server,
        op=op,
        rps=statistics.median(r.rps for r in mine),
        p50_ms=statistics.median(r.p50_ms for r in mine),
        p99_ms=statistics.median(r.p99_ms for r in mine),
        cpu_us=_median([r.cpu_us_per_request for r in mine]),
        cpu_load=_median(
            [None if r.cpu_seconds is None else r.cpu_seconds / r.seconds for r in mine]
        ),
        rounds=[round(r.rps) for r in mine],
    )


@dataclass(frozen=True)
class Target:
    label: str
    value: float
    goal: str
    passed: bool
    #: an aim is reported beside the targets but does not decide the exit status
    aim: bool = False


def targets(s: dict[tuple[str, str], Summary]) -> list[Target]:
    out: list[Target] = []

    def add(
        label: str,
        num: tuple[str, str],
        den: tuple[str, str],
        attr: str,
        goal: str,
        aim: bool = False,
    ) -> None:
        if num not in s or den not in s:
            return
        top, bottom = getattr(s[num], attr), getattr(s[den], attr)
        if top is None or not bottom:
            return  # no CPU figure off Linux
        value = top / bottom
        sign, bound = goal.split()
        passed = value >= float(bound) if sign == ">=" else value <= float(bound)
        out.append(Target(label, value, goal, passed, aim))

    add("creates  ours/prism    req/s", (OURS, CREATE), (PRISM, CREATE), "rps", ">= 5")
    add("creates  ours/ceiling  req/s", (OURS, CREATE), (CEILING, CREATE), "rps", ">= 0.5")
    add("creates  ours/ceiling  p99", (OURS, CREATE), (CEILING, CREATE), "p99_ms", "<= 3")
    add("queries  ours/ceiling  req/s", (OURS, QUERY), (CEILING, QUERY), "rps", ">= 0.6")
    # aims: where the peers and the ceiling say ours should be (bench/README.md, "Aims")
    add("creates  ours/mockoon  req/s", (OURS, CREATE), (MOCKOON, CREATE), "rps", ">= 5", True)
    add(
        "creates  ours/ceiling  CPU/req",
        (OURS, CREATE),
        (CEILING, CREATE),
        "cpu_us",
        "<= 1.2",
        True,
    )
    add(
        "creates  ours/wiremock CPU/req", (OURS, CREATE), (WIREMOCK, CREATE), "cpu_us", "<= 1", True
    )
    add(
        "creates  ours/wiremock p99", (OURS, CREATE), (WIREMOCK, CREATE), "p99_ms", "<= 0.333", True
    )
    add("queries  ours/ceiling  req/s", (OURS, QUERY), (CEILING, QUERY), "rps", ">= 1.0", True)
    return out


def startup_target(starts: Sequence[float]) -> Target:
    """The median of ours' start-ups against `startup.py`'s target."""
    median = statistics.median(starts)
    return Target(
        "start-up ours  median s", median, f"<= {startup.TARGET:g}", median <= startup.TARGET
    )


def print_report(
    runs: Sequence[Run], args: argparse.Namespace, revision: str, starts: Sequence[float] = ()
) -> tuple[list[Target], bool]:
    names = (OURS, PRISM, WIREMOCK, MOCKOON, CEILING)
    order = [(name, op) for op in (CREATE, QUERY) for name in names]
    found = [x for key in order if (x := summarise(runs, *key)) is not None]
    by_key = {(x.server, x.op): x for x in found}
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, {args.rounds} rounds, "
        f"medians over rounds; log level: ours and ceiling {args.log_level}, "
        f"Prism {args.prism_log_level}"
    )
    print(f"ours: {revision}")
    print(
        f"{'server':<9}{'op':<8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU us/req':>12}{'CPU load':>10}   req/s per round"
    )
    for x in found:
        per_round = " ".join(str(r) for r in x.rounds)
        cpu = "n/a" if x.cpu_us is None else f"{x.cpu_us:.0f}"
        load = "n/a" if x.cpu_load is None else f"{x.cpu_load:.2f}"
        print(
            f"{x.server:<9}{x.op:<8}{x.rps:>9.0f}{x.p50_ms:>9.2f}{x.p99_ms:>9.2f}"
            f"{cpu:>12}{load:>10}   {per_round}"
        )
    print("(Prism keeps no task state: it is not queried. WireMock answers canned stubs, Mockoon")
    print(" what its importer made of the spec; neither validates a body or keeps a task.")
    print(" CPU: the server's own CPU time per request, all its processes and threads; load")
    print(" 1.00 = one core busy for the run.)")
    print()
    checks = targets(by_key)
    if starts:
        checks.append(startup_target(starts))
        shown = " ".join(f"{t:.3f}" for t in starts)
        print(f"start-up: ours' serve to a healthy /_mock/health, {len(starts)} starts: {shown}")
        print()
    print(f"{'ratio':<33}{'value':>8}  {'goal':<10}result")
    for t in checks:
        verdict = "PASS" if t.passed else "FAIL"
        print(f"{t.label:<33}{t.value:>8.2f}  {t.goal:<10}{verdict}{'  (aim)' if t.aim else ''}")
    ours, ceiling = by_key.get((OURS, QUERY)), by_key.get((CEILING, QUERY))
    if ours and ceiling and ours.cpu_us and ceiling.cpu_us:
        ratio = ours.cpu_us / ceiling.cpu_us
        print(f"{'queries  ours/ceiling  CPU/req':<33}{ratio:>8.2f}  (no goal; robust to noise)")
    dirty = [r for r in runs if not r.clean]
    print()
    if dirty:
        for r in dirty:
            errs = ", ".join(f"{k} {v}" for k, v in r.socket_errors.items() if v) or "none"
            print(
                f"UNCLEAN RUN: {r.server} {r.op} round {r.round}: {r.requests} requests, "
                f"{r.non_2xx} non-2xx, socket errors: {errs}"
            )
    else:
        print(f"all {len(runs)} wrk runs clean: 0 non-2xx (status > 399), 0 socket errors")
    return checks, not dirty


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/compare.sh", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="A B C rounds (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unrecorded load per server first"
    )
    parser.add_argument("--wrk-timeout", type=float, default=5.0, help="wrk per-request timeout")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error", "critical"],
        help="--log-level of ours and of the ceiling (default info, ours' default: one access "
        "line per request)",
    )
    parser.add_argument(
        "--prism-log-level",
        default="info",
        choices=["info", "warn", "error", "silent"],
        help="Prism's --verboseLevel (default info, Prism's default: ~6 lines per request; warn "
        "matches ours at --log-level warning)",
    )
    parser.add_argument("--no-prism", action="store_true", help="skip Prism (and npm)")
    parser.add_argument("--no-wiremock", action="store_true", help="skip WireMock (and Java)")
    parser.add_argument("--no-mockoon", action="store_true", help="skip Mockoon")
    parser.add_argument(
        "--starts",
        type=int,
        default=10,
        help="starts of ours' serve to a healthy /_mock/health after the wrk rounds, whose "
        "median is held to startup.py's target (default 10; 0 leaves it out)",
    )
    parser.add_argument(
        "--ours-src",
        type=Path,
        help="import mockserver from this folder instead (e.g. a snapshot made with "
        "`git archive HEAD mockserver openapi | tar -x -C DIR`)",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rounds < 1 or args.threads < 1 or args.connections < 1:
        parser.error("--duration, --rounds, --threads and --connections must be positive")
    if args.starts < 0:
        parser.error("--starts must be 0 or more")
    return args


def bench(args: argparse.Namespace) -> int:
    opts = WrkOptions(ensure_wrk(), args.threads, args.connections, args.wrk_timeout)
    if not args.no_prism:
        ensure_prism()
    wiremock = None if args.no_wiremock else ensure_wiremock()
    ours_src = args.ours_src.resolve() if args.ours_src else None
    if ours_src is not None and not (ours_src / "mockserver" / "__init__.py").is_file():
        raise SetupError(f"--ours-src {ours_src}: no mockserver package there")
    write_spec(ours_src)
    mockoon = None if args.no_mockoon else ensure_mockoon()  # imports the spec just written
    group = servers(args.log_level, args.prism_log_level, ours_src, wiremock, mockoon)
    if args.no_prism:
        del group[PRISM]
    (LOGS / "wrk.log").unlink(missing_ok=True)
    print("starting servers on 127.0.0.1", flush=True)
    runs: list[Run] = []
    with running(group, args.ready_timeout):
        if WIREMOCK in group:
            first, created = create_answer(group[OURS])
            _, queried = request(group[OURS].port, "GET", QUERY_PATH.format(first))
            stub_wiremock(group[WIREMOCK], created, queried)
        for server in group.values():
            create_task(server)  # every server answers the exact create wrk will send
        task_ids = {name: create_task(group[name]) for name in (OURS, CEILING)}
        # the peers keep no tasks: any id gets the canned (or generated) query answer
        task_ids |= {name: CANNED_QUERY_ID for name in (WIREMOCK, MOCKOON) if name in group}
        for name, task_id in task_ids.items():
            check_query(group[name], task_id)

        plan = [(name, CREATE) for name in group] + [(name, QUERY) for name in task_ids]

        def url(name: str, op: str) -> str:
            path = CREATE_PATH if op == CREATE else QUERY_PATH.format(task_ids[name])
            return group[name].url(path)

        if args.warmup > 0:
            print(f"warm-up: {args.warmup:g} s per server and op", flush=True)
            for name, op in plan:
                run_wrk(opts, group[name], op, url(name, op), args.warmup, 0)
        for rnd in range(1, args.rounds + 1):
            for name, op in plan:
                run = run_wrk(opts, group[name], op, url(name, op), args.duration, rnd)
                runs.append(run)
                cpu = run.cpu_us_per_request
                print(
                    f"round {rnd}/{args.rounds}  {name:<9}{op:<7}{run.rps:>9.0f} req/s  "
                    f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:7.2f} ms"
                    + ("" if cpu is None else f"  CPU {cpu:4.0f} us/req")
                    + ("" if run.clean else "  UNCLEAN"),
                    flush=True,
                )
    # after the rounds, with every server stopped: what a user waits for before the first call
    startup.compile_package(ours_src)
    starts = [
        startup.one_start([], args.ready_timeout, env=ours_env(ours_src), cwd=CACHE)
        for _ in range(args.starts)
    ]
    revision = ours_revision(ours_src)
    checks, clean = print_report(runs, args, revision, starts)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"compare-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "args": vars(args),
                "ours": revision,
                "runs": [
                    {**asdict(r), "rps": r.rps, "cpu_us_per_request": r.cpu_us_per_request}
                    for r in runs
                ],
                "targets": [asdict(t) for t in checks],
            },
            indent=2,
            default=str,
        )
    )
    print(f"raw results: {out.relative_to(ROOT)}; server and wrk logs: {LOGS.relative_to(ROOT)}/")
    return 0 if clean and all(t.passed for t in checks if not t.aim) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through `running`, which stops the servers

    # SIGINT too: a shell starts background jobs with it ignored, which Python would inherit
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        return bench(args)
    except SetupError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("compare: interrupted; servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
