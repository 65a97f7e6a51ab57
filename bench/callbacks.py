"""Callback deliveries per second: N tasks end at the same simulated instant (one advance of the
virtual clock) and each is POSTed to a receiver on 127.0.0.1, over plain HTTP (opened for exactly
that host:port with callback_allow + callback_allow_http). Every task must be delivered exactly
once; the figure is deliveries / wall time of the advance, attempts included end to end (body,
connection, answer, log), at most MAX_CONCURRENCY in flight.

    python bench/callbacks.py              # 1,000 tasks
"""

from __future__ import annotations

import argparse
import asyncio
import time

from mockserver import Settings, Simulator
from mockserver.delivery.engine import MAX_CONCURRENCY
from mockserver.domain.deliveries import Outcome
from mockserver.domain.timing import FAST
from mockserver.testing.receiver import Receiver

START = 1_800_000_000.0
BODY = {"model": "sora-2-pro-preview", "prompt": "A cat playing piano", "duration": 4}


def no_dns(host: str, port: int) -> list[str]:
    raise OSError(f"{host}: the benchmark resolves nothing")


async def run(tasks: int) -> None:
    with Receiver([200]) as receiver:
        settings = Settings(
            timings=FAST,
            clock="virtual",
            start_time=START,
            callback_allow=frozenset({receiver.authority}),
            callback_allow_http=True,
        )
        sim = Simulator(settings, resolver=no_dns)
        created = [
            await sim.submit({**BODY, "callback_url": receiver.url()}, api_key="sk-bench")
            for _ in range(tasks)
        ]
        ends = {task.plan.ended for task in created}
        assert len(ends) == 1, "the tasks must all end at the same instant"

        started = time.perf_counter()
        await sim.advance(ends.pop() - sim.now())
        elapsed = time.perf_counter() - started
        await sim.callbacks.aclose()
        received = receiver.requests

    ids = {r.json()["id"] for r in received}
    assert len(received) == tasks, f"{len(received)} requests for {tasks} tasks"
    assert len(ids) == tasks, f"{len(ids)} distinct task ids for {tasks} tasks"
    outcomes = {d.outcome for d in await sim.deliveries()}
    assert outcomes == {Outcome.DELIVERED}, outcomes
    print(f"tasks ending at one instant: {tasks:,} (at most {MAX_CONCURRENCY} in flight)")
    print(f"delivered exactly once: {len(received):,} requests, {len(ids):,} distinct task ids")
    print(f"wall time of the advance: {elapsed:.3f} s")
    print(f"deliveries per second: {tasks / elapsed:,.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000)
    asyncio.run(run(parser.parse_args().tasks))
