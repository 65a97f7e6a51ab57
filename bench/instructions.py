"""Instructions per request, counted by valgrind: a ratio that a noisy machine does not move.

Each app answers N requests in-process (ASGI calls, no socket, no uvicorn) under
`valgrind --tool=callgrind`; the same run with no requests is subtracted, so start-up and
imports cancel out. By default ours (the working tree) is counted beside the bare-Starlette
ceiling (`bench/ceiling.py`); with `--base REV`, beside that revision of ours. Instructions are
not time (a cache miss costs more than an add), but two runs of one revision count within a
fraction of a percent of each other, where wall-clock rates on a shared machine drift by tens
of percent between runs: use it to tell whether a change to the per-request path did less.

With `--served`, each is the whole server instead (`evolink-mock serve`, or `ceiling.py`, on
uvicorn as `compare.sh` starts them) under callgrind, answering the requests one after another
over one keep-alive connection from this process: uvicorn, httptools and the access line
counted too.

With `--caches`, valgrind also simulates the caches and branch predictors (`--cache-sim=yes
--branch-sim=yes`, about twice as slow): the report adds, per request, first-level instruction
and data cache misses (I1mr, D1mr) and mispredicted conditional and indirect branches (Bcm, Bim),
what makes one instruction cost more than another.

    python bench/instructions.py                 # ours and the ceiling, creates and queries
    python bench/instructions.py --base HEAD~1   # ours against its parent
    python bench/instructions.py --served        # the same through uvicorn, over a socket
    python bench/instructions.py --served --caches --ops query   # and where the cycles go
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OPS = ("create", "query")
#: valgrind's flags for `--caches`, and the events they add that the report shows
CACHE_FLAGS = ("--cache-sim=yes", "--branch-sim=yes")
CACHE_EVENTS = ("I1mr", "D1mr", "Bcm", "Bim")
#: callgrind's counts: event name -> count ("Ir", instructions, always; more with CACHE_FLAGS)
Counts = dict[str, int]


async def child(which: str, op: str, requests: int) -> None:
    """Make the app, create one task and let it start, then answer `requests` requests of
    `op`."""
    import json

    from query_scale import BODY, call  # a sibling script: one ASGI call, and its create body

    from mockserver import Settings
    from mockserver.web.app import create_app

    # on a virtual clock the queried task is in one state however long valgrind takes, and
    # seeded it has one plan (unseeded, its drawn plan may stall, which its progress then
    # reads); creates draw from the OS's randomness, as a served create does, and count alike
    seed = 1 if op == "query" else None
    ours = create_app(Settings(clock="virtual", seed=seed))
    async with ours.router.lifespan_context(ours):
        app: object = ours
        if which == "ceiling":
            import ceiling

            app = ceiling.app
        status, body = await call(ours, "POST", "/v1/videos/generations", BODY)
        path = "/v1/tasks/" + json.loads(body)["id"]
        await ours.simulator.advance(20)  # past its queue: processing, as most polls find it
        for _ in range(requests):
            if op == "query":
                status, body = await call(app, "GET", path)
            else:
                status, body = await call(app, "POST", "/v1/videos/generations", BODY)
        if status != 200:
            raise SystemExit(f"{which} answered {op} with {status}: {body[:500]!r}")


def count(
    valgrind: str, src: Path, which: str, op: str, requests: int, flags: Sequence[str] = ()
) -> Counts:
    """The counts of one child run under callgrind."""
    from compare import ours_env

    env = {**ours_env(src), "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory() as cwd:  # not the repo root: PYTHONPATH decides
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                *flags,
                sys.executable,
                str(BENCH / "instructions.py"),
                "--child",
                which,
                op,
                str(requests),
            ],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
        )
    found = collected(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run of {which} {op} failed:\n{done.stderr[-2000:]}")
    return found


def collected(output: str) -> Counts | None:
    """The counts callgrind prints at exit (its `Events` and `Collected` lines), if it did."""
    events = re.search(r"Events\s*:\s*([\w ]+)", output)
    found = re.search(r"Collected\s*:\s*([\d ]+)", output)
    if found is None:
        return None
    names = events.group(1).split() if events is not None else ["Ir"]
    values = found.group(1).split()
    if len(values) != len(names):  # a line cut short: no count rather than a wrong one
        return None
    return dict(zip(names, map(int, values), strict=True))


#: valgrind runs Python some 50 times slower: its start takes seconds
SERVED_READY_TIMEOUT = 180.0


def count_served(
    valgrind: str, src: Path, which: str, op: str, requests: int, flags: Sequence[str] = ()
) -> Counts:
    """The instructions of one served run under callgrind: the server started, one task
    created (and, for queries, moved past its queue on the virtual clock), `requests` requests
    answered over one connection, the server stopped."""
    import http.client
    import json

    from _proc import HOST, Server, SetupError, free_ports
    from ab import cli_module
    from compare import BODY, CREATE_PATH, HEADERS, LOGS, ours_env

    (port,) = free_ports(1)
    if which == "ours":
        # a virtual clock, seeded for queries: the queried task is in one state throughout
        seed = ["--seed", "1"] if op == "query" else []
        app = [sys.executable, "-m", cli_module(src), "serve", "--clock", "virtual", *seed]
        app += ["--log-level", "info", "--port", str(port)]
    else:
        app = [sys.executable, str(src / "bench" / "ceiling.py"), "--port", str(port)]
    server = Server(
        f"{which} under callgrind",
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *flags, *app],
        port,
        LOGS / f"instructions-{which}-{op}-{requests}.log",
        env={**ours_env(src), "PYTHONHASHSEED": "0"},
        cwd=src,
    )
    server.start()
    try:
        server.wait_ready(SERVED_READY_TIMEOUT)
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        try:

            def answer(method: str, path: str, body: bytes | None = None) -> bytes:
                conn.request(method, path, body=body, headers=HEADERS)
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    raise SetupError(f"{which} answered {method} {path} with {response.status}")
                return data

            path = "/v1/tasks/" + json.loads(answer("POST", CREATE_PATH, BODY))["id"]
            if which == "ours":
                answer("POST", "/_mock/clock/advance", b'{"seconds": 20}')
            for _ in range(requests):
                if op == "query":
                    answer("GET", path)
                else:
                    answer("POST", CREATE_PATH, BODY)
        finally:
            conn.close()
    finally:
        server.stop()  # SIGTERM: uvicorn shuts down, and valgrind prints its count
    found = collected(server.log_path.read_text(errors="replace"))
    if found is None:
        raise SetupError(f"valgrind counted nothing for {which} {op}; see {server.log_path}")
    return found


def per_request(
    valgrind: str,
    src: Path,
    which: str,
    op: str,
    requests: int,
    served: bool = False,
    flags: Sequence[str] = (),
) -> dict[str, float]:
    """Each count per request: a run of `requests` less a run of none."""
    counter = count_served if served else count
    with ThreadPoolExecutor(2) as pool:  # the two runs side by side, one per core
        idle, busy = pool.map(lambda n: counter(valgrind, src, which, op, n, flags), (0, requests))
    return {name: (busy[name] - idle[name]) / requests for name in busy}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per run")
    parser.add_argument("--ops", default=",".join(OPS), help="create,query (default both)")
    parser.add_argument("--base", help="count this revision of ours instead of the ceiling")
    parser.add_argument(
        "--served",
        action="store_true",
        help="count the whole server on uvicorn, over one keep-alive connection",
    )
    parser.add_argument(
        "--caches",
        action="store_true",
        help="simulate caches and branch predictors too: misses per request (slower)",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        which, op, requests = args.child
        asyncio.run(child(which, op, int(requests)))
        return 0
    sys.path.insert(0, str(BENCH))
    from _proc import SetupError
    from compare import apt_install

    ops = [op for op in args.ops.split(",") if op]
    if not ops or set(ops) - set(OPS) or args.requests < 1:
        parser.error(f"--ops takes {','.join(OPS)}; --requests at least 1")
    try:
        valgrind = apt_install("valgrind", "valgrind", "counts the instructions")
        if args.base:
            from ab import extract

            other, other_name = extract(args.base), f"ours@{args.base}"
        else:
            other, other_name = ROOT, "ceiling"
    except SetupError as exc:
        print(f"instructions.py: {exc}", file=sys.stderr)
        return 2
    how = "served over one connection" if args.served else "in-process"
    flags, shown = (CACHE_FLAGS, ("Ir", *CACHE_EVENTS)) if args.caches else ((), ("Ir",))
    print(f"{args.requests} requests per run, {how}, under callgrind; per request:")
    print(f"{'op':8} {'count':6} {'ours':>12} {other_name:>16} {'ours/other':>11}")
    try:
        for op in ops:
            ours = per_request(valgrind, ROOT, "ours", op, args.requests, args.served, flags)
            theirs = per_request(
                valgrind,
                other,
                "ours" if args.base else "ceiling",
                op,
                args.requests,
                args.served,
                flags,
            )
            for name in shown:
                a, b = ours[name], theirs[name]
                ratio = f"{a / b:11.3f}" if b else f"{'-':>11}"
                print(f"{op:8} {name:6} {a:12,.0f} {b:16,.0f} {ratio}", flush=True)
    except SetupError as exc:
        print(f"instructions.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
