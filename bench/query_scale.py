"""Query latency against the number of stored tasks, and memory per stored task.

Two simulators are filled through the real create path (raw ASGI calls: routing, auth, body
parsing, validation, storage), one with --small tasks, one with --large. Queries then alternate
between them, round after round (A B A B ...), so machine noise hits both alike; the medians and
their ratio are printed. Memory is what tracemalloc sees allocated while the large store fills,
divided by its task count.

With `--served`, the same question as `compare.sh` asks it: two `evolink-mock serve` (real
clock, info log), one of them first filled by `--fill` seconds of wrk creates, then wrk queries
of one task each, the two alternating round after round; the server's CPU per query (from
/proc) and requests/s, and the filled one's over the fresh one's. `compare.sh` queries ours
after its create rounds (tens of thousands of tasks) and the ceiling keeps none: this is what
the stored tasks alone cost a query.

    python bench/query_scale.py            # 1,000 vs 100,000 tasks
    python bench/query_scale.py --store redis://127.0.0.1:6379/0    # on Redis
    python bench/query_scale.py --served --fill 15    # served: fresh vs ~40,000 tasks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import tracemalloc
from typing import Any

from mockserver import Settings, Simulator, create_app
from mockserver.domain.timing import FAST

KEY = b"Bearer sk-bench-0123456789"
BODY = json.dumps(
    {"model": "sora-2-pro-preview", "prompt": "A cat playing piano", "duration": 8}
).encode()


def scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", KEY),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
    }


async def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(method, path), receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def fill(app: Any, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        status, body = await call(app, "POST", "/v1/videos/generations", BODY)
        assert status == 200, body
        ids.append(json.loads(body)["id"])
    return ids


async def query_round(app: Any, ids: list[str], queries: int, rng: random.Random) -> list[float]:
    timings = []
    for task_id in rng.choices(ids, k=queries):
        start = time.perf_counter_ns()
        status, _ = await call(app, "GET", f"/v1/tasks/{task_id}")
        timings.append((time.perf_counter_ns() - start) / 1000)
        assert status == 200
    return timings


def simulator(store_url: str | None, name: str) -> Simulator:
    settings = Settings(timings=FAST, clock="virtual")
    if store_url is None:
        return Simulator(settings)
    from mockserver.storage.redis import RedisStore

    return Simulator(settings, store=RedisStore(store_url, prefix=f"bench-{name}-{time.time_ns()}"))


def redis_used_memory(store_url: str) -> int:
    import redis

    client = redis.Redis.from_url(store_url)
    used: int = client.info("memory")["used_memory"]
    client.close()
    return used


async def main(small: int, large: int, rounds: int, queries: int, store_url: str | None) -> None:
    apps = {n: create_app(simulator=simulator(store_url, str(n))) for n in (small, large)}
    ids = {small: await fill(apps[small], small)}

    if store_url is None:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        ids[large] = await fill(apps[large], large)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    else:  # what Redis itself holds for them: every key and entry a task adds
        before = redis_used_memory(store_url)
        ids[large] = await fill(apps[large], large)
        after = redis_used_memory(store_url)
    per_task = (after - before) / large

    rng = random.Random(1)
    samples: dict[int, list[float]] = {small: [], large: []}
    await query_round(apps[small], ids[small], 200, rng)  # warm-up
    for _ in range(rounds):
        for n in (small, large):
            samples[n] += await query_round(apps[n], ids[n], queries, rng)

    medians = {n: statistics.median(s) for n, s in samples.items()}
    print(f"{'stored tasks':>14} {'queries':>8} {'median us':>10} {'p99 us':>8}")
    for n in (small, large):
        p99 = statistics.quantiles(samples[n], n=100)[98]
        print(f"{n:>14,} {len(samples[n]):>8,} {medians[n]:>10.1f} {p99:>8.1f}")
    ratio = medians[large] / medians[small]
    print(f"median ratio {large:,} / {small:,} tasks: {ratio:.3f} (target <= 1.2)")
    where = "in Redis (used_memory)" if store_url else "in the process (tracemalloc)"
    print(f"memory per stored task {where}: {per_task:,.0f} bytes (target <= 2048)")


def served(fill_seconds: float, rounds: int, seconds: float) -> int:
    """`--served`: CPU per query of a fresh server and of one filled by wrk creates."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import compare
    from _proc import SetupError, WrkOptions, free_ports
    from ab import server as serve

    opts = WrkOptions(compare.ensure_wrk(), 2, 50, 5.0)
    group = {
        name: serve(name, compare.ROOT, port, "info", log_prefix="query-scale")
        for name, port in zip(("fresh", "filled"), free_ports(2), strict=True)
    }
    cpu: dict[str, list[float]] = {name: [] for name in group}
    rps: dict[str, list[float]] = {name: [] for name in group}
    try:
        with compare.running(group, 60.0):
            paths = {n: compare.QUERY_PATH.format(compare.create_task(s)) for n, s in group.items()}
            filled = group["filled"]
            made = compare.run_wrk(
                opts, filled, compare.CREATE, filled.url(compare.CREATE_PATH), fill_seconds, 0
            )
            for name, server in group.items():  # warm-up, unrecorded
                compare.run_wrk(opts, server, compare.QUERY, server.url(paths[name]), 2.0, 0)
            for rnd in range(1, rounds + 1):
                for name in list(group) if rnd % 2 else list(group)[::-1]:
                    server = group[name]
                    run = compare.run_wrk(
                        opts, server, compare.QUERY, server.url(paths[name]), seconds, rnd
                    )
                    if not run.clean or run.cpu_us_per_request is None:
                        raise SetupError(f"{name} round {rnd}: not a clean run: {run}")
                    cpu[name].append(run.cpu_us_per_request)
                    rps[name].append(run.rps)
    except SetupError as exc:
        print(f"query_scale.py: {exc}", file=sys.stderr)
        return 2
    print(f"filled with {made.requests:,} creates ({made.rps:,.0f} req/s); queries of one task:")
    print(f"{'server':8} {'CPU us/query':>13} {'req/s':>8}   CPU per round")
    for name in group:
        per_round = " ".join(f"{c:.0f}" for c in cpu[name])
        cpu_us, rate = statistics.median(cpu[name]), statistics.median(rps[name])
        print(f"{name:8} {cpu_us:>13.1f} {rate:>8,.0f}   {per_round}")
    ratio = statistics.median(cpu["filled"]) / statistics.median(cpu["fresh"])
    print(f"CPU per query, filled / fresh: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per store")
    parser.add_argument("--queries", type=int, default=2_000, help="queries per round")
    parser.add_argument("--store", metavar="redis://HOST:PORT/DB", help="measure the Redis store")
    parser.add_argument(
        "--served", action="store_true", help="two served servers under wrk, fresh and filled"
    )
    parser.add_argument(
        "--fill", type=float, default=15.0, help="--served: seconds of wrk creates (default 15)"
    )
    parser.add_argument(
        "--duration", type=float, default=4.0, help="--served: seconds per query round"
    )
    args = parser.parse_args()
    if args.served:
        raise SystemExit(served(args.fill, args.rounds, args.duration))
    asyncio.run(main(args.small, args.large, args.rounds, args.queries, args.store))
