"""Two revisions of evolink-mock side by side: creates and queries per second, with wrk.

    python bench/ab.py --base 586e568 --duration 10 --rounds 5
    python bench/ab.py --base tree --base-flags=--no-metrics --min-ratio 0.9   # a flag's cost

`--base REV` is extracted with `git archive` into bench/.cache/ab/REV; `--head REV` likewise, or
the working tree when not given (`--base tree`: the working tree too, to weigh `serve` flags
against each other with `--base-flags` and `--head-flags`). Both servers run with this Python
and its packages, each importing `mockserver` from its own folder, on free ports of 127.0.0.1,
at the same log level.
wrk alternates the two round after round (creates, then queries of one task each created), the
order swapped every round (base first in odd rounds, head first in even ones), so machine noise
and the cost of going second hit both alike; the report gives each round, the medians, and
head/base for requests/s, p99 and the server's CPU per request. An odd `--rounds` gives base
the first place once more: `--base X --head X` measures what is left of the bias.

Exit status: 0 when head/base creates/s is at least `--min-ratio` (default 0.8) and every run
was clean, 1 when not, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import compare
from _proc import Server, SetupError, WrkOptions, free_ports
from compare import CACHE, CREATE, CREATE_PATH, LOGS, QUERY, QUERY_PATH, ROOT, Run

AB = CACHE / "ab"


def extract(revision: str) -> Path:
    """The mockserver and openapi folders of `revision`, in a folder of their own."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True
    )
    if sha.returncode != 0:
        raise SetupError(f"no such revision: {revision}")
    folder = AB / sha.stdout.strip()
    if not (folder / "mockserver" / "__init__.py").is_file():
        archive = subprocess.run(
            ["git", "archive", sha.stdout.strip(), "mockserver", "openapi"],
            cwd=ROOT,
            capture_output=True,
        )
        if archive.returncode != 0:
            raise SetupError(f"git archive {revision} failed: {archive.stderr.decode()}")
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="tar")
    return folder


def cli_module(src: Path) -> str:
    """The serve command's module in that tree (it moved when the package was laid out)."""
    return (
        "mockserver.cli.main" if (src / "mockserver/cli/main.py").is_file() else "mockserver._cli"
    )


def server(
    name: str,
    src: Path,
    port: int,
    log_level: str,
    flags: Sequence[str] = (),
    log_prefix: str = "ab",
) -> Server:
    """`evolink-mock serve` of the tree at `src`, logging to `LOGS/<log_prefix>-<name>.log`."""
    argv = [sys.executable, "-m", cli_module(src), "serve", "--port", str(port)]
    return Server(
        name,
        [*argv, "--log-level", log_level, *flags],
        port,
        LOGS / f"{log_prefix}-{name}.log",
        env=compare.ours_env(src),
        cwd=CACHE,  # not the repo root, which `python -m` would put before PYTHONPATH
    )


def median(runs: Sequence[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def report(runs: list[Run], names: tuple[str, str], min_ratio: float) -> bool:
    base, head = names
    passed = True
    print(
        f"\n{'op':<8}{'server':<8}{'req/s':>9}{'p99 ms':>9}{'CPU us/req':>12}{'wrk cores':>11}"
        "   req/s per round"
    )
    for op in (CREATE, QUERY):
        medians = {}
        for name in names:
            mine = [r for r in runs if r.server == name and r.op == op]
            cpu = [r.cpu_us_per_request for r in mine if r.cpu_us_per_request is not None]
            medians[name] = (median(mine, "rps"), median(mine, "p99_ms"), statistics.median(cpu))
            per_round = " ".join(f"{r.rps:.0f}" for r in mine)
            rps, p99, cpu_us = medians[name]
            # wrk's CPU seconds per wall second: what the load generator took of the 2 cores
            wrk = statistics.median((r.wrk_cpu_seconds or 0.0) / r.seconds for r in mine)
            print(
                f"{op:<8}{name:<8}{rps:>9.0f}{p99:>9.2f}{cpu_us:>12.0f}{wrk:>11.2f}   {per_round}"
            )
        (b_rps, b_p99, b_cpu), (h_rps, h_p99, h_cpu) = medians[base], medians[head]
        ratio = h_rps / b_rps
        verdict = ""
        if op == CREATE:
            ok = ratio >= min_ratio
            passed &= ok
            verdict = f"  >= {min_ratio:g}  {'PASS' if ok else 'FAIL'}"
        print(
            f"{op:<8}head/base  req/s {ratio:.2f}{verdict}   p99 {h_p99 / b_p99:.2f}   "
            f"CPU/req {h_cpu / b_cpu:.2f}"
        )
    clean = all(r.clean for r in runs)
    print(f"all {len(runs)} wrk runs clean: {clean}")
    return passed and clean


def bench(args: argparse.Namespace) -> int:
    opts = WrkOptions(compare.ensure_wrk(), args.threads, args.connections, args.wrk_timeout)
    base_src = ROOT if args.base == "tree" else extract(args.base)
    head_src = extract(args.head) if args.head else ROOT
    names = (
        f"base:{args.base if args.base == 'tree' else base_src.name}",
        f"head:{args.head or 'tree'}",
    )
    ports = free_ports(2)
    base_flags, head_flags = args.base_flags.split(), args.head_flags.split()
    group = {
        names[0]: server(names[0], base_src, ports[0], args.log_level, base_flags),
        names[1]: server(names[1], head_src, ports[1], args.log_level, head_flags),
    }
    (LOGS / "wrk.log").unlink(missing_ok=True)
    runs: list[Run] = []
    with compare.running(group, args.ready_timeout):
        task_ids = {name: compare.create_task(s) for name, s in group.items()}

        def url(name: str, op: str) -> str:
            path = CREATE_PATH if op == CREATE else QUERY_PATH.format(task_ids[name])
            return group[name].url(path)

        plan = [(name, op) for op in (CREATE, QUERY) for name in names]
        for name, op in plan:
            compare.run_wrk(opts, group[name], op, url(name, op), args.warmup, 0)
        for rnd in range(1, args.rounds + 1):
            # the same server second every round measured it about 5 % slower: an A/A run
            # (one revision on both sides) gave creates 0.93 and queries 0.96 with a fixed order
            order = names if rnd % 2 else names[::-1]
            for name, op in [(name, op) for op in (CREATE, QUERY) for name in order]:
                run = compare.run_wrk(opts, group[name], op, url(name, op), args.duration, rnd)
                runs.append(run)
                print(f"round {rnd}/{args.rounds}  {name:<16}{op:<7}{run.rps:>9.0f} req/s")
    return 0 if report(runs, names, args.min_ratio) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/ab.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--head", help="the revision to measure (default: the working tree)")
    parser.add_argument("--base-flags", default="", help="extra serve flags for the base server")
    parser.add_argument("--head-flags", default="", help="extra serve flags for the head server")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unrecorded load")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--wrk-timeout", type=float, default=5.0, help="wrk per-request timeout")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait")
    parser.add_argument("--log-level", default="info", help="both servers' --log-level")
    parser.add_argument(
        "--min-ratio", type=float, default=0.8, help="head/base creates/s target (default 0.8)"
    )
    args = parser.parse_args(argv)

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through `running`, which stops the servers

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        return bench(args)
    except SetupError as exc:
        print(f"ab: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ab: interrupted; servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
