"""Callbacks across replicas on one Redis: each attempt is sent by one process, the owner of
its delivery; when the owner dies its lease lapses and another process carries its deliveries
on, with the same webhook-ids (at least once: an attempt in flight at the crash is sent again,
and counted)."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from mockserver import Simulator
from mockserver.domain.deliveries import Attempt, Delivery
from mockserver.storage.base import NOTHING_TAKEN, StoreUnavailable
from mockserver.storage.redis import RedisStore

from ..bodies import create_body
from ..callback_fixtures import (
    ENDS_AFTER,
    TLS,
    FakeResolver,
    api_for,
    callback_settings,
    create,
    https_receiver,
)
from ..redis_server import RedisProcess, redis_url
from ..served import serving
from .test_store import add, task

pytestmark = pytest.mark.redis

SECRET = "whsec_" + base64.b64encode(b"evolink-mock-failover-test-key!!").decode()
KEY = "sk-failover"
START = 1_800_000_000.0
SHORT = 0.5  # seconds: a lease for the in-process tests
TAKEOVERS = "evolink_mock_callback_takeovers_total"
ATTEMPTS = "evolink_mock_callback_attempts_total"


@pytest.mark.anyio
async def test_a_delivery_whose_process_died_mid_attempt_is_sent_again_by_another(
    tls: TLS,
) -> None:
    url, prefix = redis_url(), f"test-{uuid.uuid4().hex}"
    with https_receiver(tls, ["timeout", 200]) as receiver:
        settings = callback_settings([receiver], tls, callback_timeout=30.0, callback_secret=SECRET)
        a_store = RedisStore(url, prefix=prefix)
        a = Simulator(settings, store=a_store, resolver=FakeResolver())
        b_store = RedisStore(url, prefix=prefix, lease=SHORT)
        b = Simulator(settings, store=b_store, resolver=FakeResolver())
        async with api_for(a) as api_a, api_for(b):
            made = await create(api_a, receiver.url())
            moving = asyncio.create_task(a.advance(ENDS_AFTER))
            await asyncio.to_thread(receiver.wait_for, 1, 10)  # A's attempt hangs there...
            await a.callbacks.aclose()  # ...when A dies: its outcome is never written down
            await moving
            (stale,) = await a_store.deliveries()

            await asyncio.sleep(SHORT)  # B takes nothing over in its first lease's length
            while_a_lives = await b.take_over()  # A's lease still holds
            # the lease lapses (5 s after A's last renewal; here at once)
            with redis.Redis.from_url(url) as direct:
                direct.delete(f"{prefix}:alive:{a_store.token}")
            taken = await b.take_over()
            await b.catch_up()  # B follows the shared clock to when A's attempt was due
            await b.callbacks.drain()
            (delivered,) = await b.store.deliveries()
            refused = await a_store.save_delivery(stale)  # A, had it lived on, may not save

    first, again = receiver.requests
    assert while_a_lives == 0  # nothing is taken from a process whose lease holds
    assert taken == 1
    assert b.callbacks.taken_over == 1
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == delivered.webhook_id
    assert again.json()["id"] == made["id"]
    assert delivered.outcome.value == "delivered"
    assert [(x.attempt, x.status_code) for x in delivered.attempts] == [(1, 200)]
    assert refused is False


@pytest.mark.processes
@pytest.mark.anyio
@pytest.mark.realclock
async def test_after_redis_was_away_a_process_waits_a_lease_before_taking_anything_over() -> None:
    """While Redis is away no lease is renewed: when it is back, every live process's may have
    lapsed. Each process then only renews its own for a lease's length, so that none takes
    over the deliveries of another that is alive."""
    with RedisProcess() as server:
        prefix = f"test-{uuid.uuid4().hex}"
        a = RedisStore(server.url, prefix=prefix)
        b = RedisStore(server.url, prefix=prefix, lease=SHORT)
        one = task(1)
        await add(a, one)
        delivery = Delivery(one, "https://example.com/hook", "msg_1", "end")
        delivery.attempts.append(Attempt(1, one.plan.ended))
        assert await a.save_delivery(delivery)  # A sends it (its attempt in flight)
        await asyncio.sleep(SHORT)
        server.stop()
        with pytest.raises(StoreUnavailable):
            await b.take_over()
        server.start()  # A's lease is gone with the outage (here: deleted)
        with redis.Redis.from_url(server.url) as direct:
            direct.delete(f"{prefix}:alive:{a.token}")
        at_once = await b.take_over()
        await asyncio.sleep(SHORT)
        later = await b.take_over()  # A did not renew in time: it is taken to be dead
        a.close()
        b.close()

    assert at_once == NOTHING_TAKEN
    assert [d.webhook_id for d in later.deliveries] == ["msg_1"]
    assert later.ends == []  # its end was handled: the delivery was saved


# -- two `serve` processes on one Redis, one of them killed ---------------------------------------


def _serve_options(receiver_authority: str, ca_file: str, store: str) -> list[str]:
    return [
        "--clock",
        "virtual",
        "--start-time",
        str(START),
        "--store",
        store,
        "--callback-allow",
        receiver_authority,
        "--callback-ca-file",
        ca_file,
        "--callback-secret",
        SECRET,
        "--log-level",
        "info",
    ]


def _counted(base: str, metric: str) -> int:
    """The sum of a counter's samples on a replica's /_mock/metrics."""
    text = httpx.get(f"{base}/_mock/metrics", timeout=10).text
    return sum(int(float(x.split()[-1])) for x in text.splitlines() if x.startswith(metric))


def _in_background(call: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(httpx.TransportError):  # the replica it asked was killed
            call()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.processes
@pytest.mark.realclock
@pytest.mark.parametrize(
    ("count", "kill"),
    [
        (200, False),
        (200, True),
        # not measured for coverage (`no_cover`): the lines the 200 run (per-test contexts)
        pytest.param(1000, False, marks=[pytest.mark.slow, pytest.mark.no_cover]),
        pytest.param(1000, True, marks=[pytest.mark.slow, pytest.mark.no_cover]),
    ],
)
def test_callbacks_falling_due_at_once_across_two_replicas(
    tls: TLS, tmp_path: Path, count: int, kill: bool
) -> None:
    """`count` tasks, made half on A and half on B, end at one instant. Without a crash each
    callback arrives exactly once; with `kill -9` of A during delivery, each arrives at least
    once: after A's lease lapses B takes over the ends A had not handled and the deliveries it
    had under way, and the repeats are the attempts A had in flight, sent again."""
    store = redis_url().rsplit("/", 1)[0] + "/7"  # a database of this test's own
    with redis.Redis.from_url(store) as direct:
        direct.flushdb()
    # a slow receiver: each answer takes 0.1 s, so delivery is under way for a while
    with https_receiver(tls, [200]) as receiver:
        receiver.delay = 0.1
        options = _serve_options(receiver.authority, tls.ca_file, store)
        with serving(*options) as a, serving(*options) as b:
            auth = {"Authorization": f"Bearer {KEY}"}
            body = create_body(prompt="a cat", duration=4, callback_url=receiver.url())
            with (  # a load balancer's way: creates alternate between the replicas
                httpx.Client(base_url=a.url, headers=auth, timeout=10) as on_a,
                httpx.Client(base_url=b.url, headers=auth, timeout=10) as on_b,
                concurrent.futures.ThreadPoolExecutor(8) as clients,  # a few at once, as users
            ):

                def made_on(i: int) -> str:
                    answer = (on_a, on_b)[i % 2].post("/v1/videos/generations", json=body)
                    task_id: str = answer.raise_for_status().json()["id"]
                    return task_id

                made = set(clients.map(made_on, range(count)))
            # A moves the shared clock past every end; B follows it within a second: both send
            advance = f"{a.url}/_mock/clock/advance"
            moving = _in_background(lambda: httpx.post(advance, json={"seconds": 60}, timeout=120))
            killed_at = None
            if kill:
                receiver.wait_for(count // 5, timeout=60)
                killed_at = len(receiver.requests)
                a.kill()
            moving.join(120)
            deadline = time.monotonic() + 60  # A's lease (5 s), then B's next round (1 s)
            while time.monotonic() < deadline:
                listed = httpx.get(f"{b.url}/_mock/callbacks", timeout=30).json()
                if len(listed) >= count and all(d["outcome"] != "pending" for d in listed):
                    break
                time.sleep(0.25)
            replicas = [b] if kill else [a, b]
            takeovers = sum(_counted(r.url, TAKEOVERS) for r in replicas)
            sent_by = [_counted(r.url, ATTEMPTS) for r in replicas]

    requests = receiver.requests
    by_webhook = Counter(r.headers["webhook-id"] for r in requests)
    tasks_by_webhook = {r.headers["webhook-id"]: r.json()["id"] for r in requests}
    duplicates = len(requests) - len(by_webhook)
    print(
        f"\n{count} callbacks, kill -9 of A: {kill} (after {killed_at} arrived): "
        f"{len(requests)} received, {len(by_webhook)} webhook-ids, {duplicates} duplicates, "
        f"{takeovers} deliveries taken over; attempts sent by {'B' if kill else 'A, B'}: "
        f"{sent_by}"
    )
    assert set(tasks_by_webhook.values()) == made  # none lost
    assert len(by_webhook) == count  # one delivery (one webhook-id) per task
    assert sorted(d["task_id"] for d in listed) == sorted(made)
    assert {d["outcome"] for d in listed} == {"delivered"}
    if kill:
        assert killed_at is not None
        assert killed_at < count  # A died during delivery
        assert takeovers >= 1  # B carried on what A had under way
        assert duplicates <= takeovers  # at most the attempt each had in flight, again
    else:
        assert duplicates == 0  # exactly once
        assert len(requests) == count
        assert takeovers == 0
        assert min(sent_by) > 0  # both replicas sent callbacks
