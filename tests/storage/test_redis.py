"""Several simulators on one Redis see one state: what one replica keeps, another reads; each
check-and-change is atomic across them. The behaviour suite runs on Redis too (`STORES`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from mockserver import Settings, Simulator, create_app
from mockserver.domain.journal import Entry
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.tasks import Plan, Task, VideoRequest
from mockserver.domain.timing import FAST
from mockserver.storage.base import Added, Exists, NewTask, StoreUnavailable
from mockserver.storage.redis import RedisStore
from mockserver.testing import serve_in_thread

from ..bodies import create_body
from ..callback_fixtures import (
    ENDS_AFTER,
    TLS,
    FakeResolver,
    advance,
    api_for,
    callback_settings,
    create,
    deliveries,
    https_receiver,
)
from ..redis_server import RedisProcess, redis_url
from ..served import serving

pytestmark = pytest.mark.redis

KEY = "sk-replicas"
BURSTY = "sk-bursty"  # rate 0.001 a second, burst 2
BODY = create_body(prompt="a cat")
START = 1_800_000_000.0


@pytest.fixture
def replicas() -> Iterator[tuple[str, str]]:
    """Two servers, each with its own connection to one Redis prefix: two replicas."""
    url, prefix = redis_url(), f"test-{uuid.uuid4().hex}"
    profiles = Profiles(keys={BURSTY: KeyProfile(rate=0.001, burst=2)})
    settings = Settings(timings=FAST, clock="virtual", start_time=START, profiles=profiles)
    a = Simulator(settings, store=RedisStore(url, prefix=prefix))
    b = Simulator(settings, store=RedisStore(url, prefix=prefix))
    with (
        serve_in_thread(create_app(simulator=a)) as url_a,
        serve_in_thread(create_app(simulator=b)) as url_b,
    ):
        yield url_a, url_b


def call(base: str, method: str, path: str, key: str = KEY, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, f"{base}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_a_task_made_on_one_replica_is_read_on_the_other(replicas: tuple[str, str]) -> None:
    a, b = replicas
    made = call(a, "POST", "/v1/videos/generations", json=BODY).json()

    read = call(b, "GET", f"/v1/tasks/{made['id']}")
    listed = httpx.get(f"{b}/_mock/tasks", timeout=10).json()

    assert read.status_code == 200
    assert read.json()["id"] == made["id"]
    assert [t["id"] for t in listed] == [made["id"]]


def test_a_burst_of_2_gives_two_creates_across_both_replicas(replicas: tuple[str, str]) -> None:
    a, b = replicas

    statuses = [
        call(base, "POST", "/v1/videos/generations", BURSTY, json=BODY).status_code
        for base in (a, b, a)
    ]

    assert statuses == [200, 200, 429]


def test_a_times_1_fault_fires_once_across_both_replicas(replicas: tuple[str, str]) -> None:
    a, b = replicas
    fault = {"scenario": "internal_error", "match": {"operation": "credits"}, "times": 1}
    assert httpx.post(f"{a}/_mock/faults", json=fault, timeout=10).status_code == 201

    statuses = [call(base, "GET", "/v1/credits").status_code for base in [a, b] * 5]

    assert sorted(statuses) == [200] * 9 + [500]
    assert httpx.get(f"{b}/_mock/faults", timeout=10).json() == []


def test_racing_creates_with_one_key_over_two_replicas_make_one_task(
    replicas: tuple[str, str],
) -> None:
    """The key's claim and the task are one atomic step in Redis: a twin is either the first
    create or a replay of it, never a second task (so never a 409 either)."""
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": "one-intent"}

    def create(base: str) -> httpx.Response:
        return httpx.post(f"{base}/v1/videos/generations", json=BODY, headers=headers, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(create, list(replicas) * 5))
    listed = httpx.get(f"{replicas[0]}/_mock/tasks", timeout=10).json()

    assert [answer.status_code for answer in answers] == [200] * 10
    assert len({answer.json()["id"] for answer in answers}) == 1
    replayed = [answer.headers.get("idempotency-replayed") for answer in answers]
    assert sorted(replayed, key=str) == [None] + ["true"] * 9
    assert [task["id"] for task in listed] == [answers[0].json()["id"]]
    accounts = httpx.get(f"{replicas[1]}/_mock/accounts", timeout=10).json()
    assert [account["running"] for account in accounts] == [1]


@pytest.mark.processes
def test_serve_store_refuses_a_redis_it_cannot_reach_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli.main", "serve", "--store", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("evolink-mock: error: --store redis://127.0.0.1:1/0: ")


def test_credits_are_never_reserved_twice_across_replicas() -> None:
    url, prefix = redis_url(), f"test-{uuid.uuid4().hex}"
    profiles = Profiles(keys={KEY: KeyProfile(credits=100)})  # room for one 69.12 task
    settings = Settings(timings=FAST, clock="virtual", start_time=START, profiles=profiles)
    sims = [Simulator(settings, store=RedisStore(url, prefix=prefix)) for _ in range(2)]
    with (
        serve_in_thread(create_app(simulator=sims[0])) as a,
        serve_in_thread(create_app(simulator=sims[1])) as b,
    ):
        statuses = sorted(
            call(base, "POST", "/v1/videos/generations", json=BODY).status_code
            for base in (a, b, a, b)
        )
        (account,) = httpx.get(f"{a}/_mock/accounts", timeout=10).json()

    assert statuses == [200, 402, 402, 402]
    assert (account["reserved"], account["remaining"]) == (69.12, 30.88)


def test_advancing_the_clock_on_one_replica_completes_the_task_for_the_other(
    replicas: tuple[str, str],
) -> None:
    a, b = replicas
    made = call(a, "POST", "/v1/videos/generations", json=BODY).json()

    moved = httpx.post(f"{b}/_mock/clock/advance", json={"seconds": 60}, timeout=10).json()
    on_a = call(a, "GET", f"/v1/tasks/{made['id']}").json()
    clock_a = httpx.get(f"{a}/_mock/clock", timeout=10).json()

    assert made["status"] == "pending"
    assert on_a["status"] == "completed"  # the fast plan of a 4 s task ends 45 s after create
    assert clock_a["now"] == moved["now"] == START + 60


def test_two_replicas_advancing_keep_the_later_time(replicas: tuple[str, str]) -> None:
    a, b = replicas
    httpx.post(f"{a}/_mock/clock/advance", json={"seconds": 100}, timeout=10)
    httpx.post(f"{b}/_mock/clock/advance", json={"seconds": 10}, timeout=10)  # from 100: 110

    times = [httpx.get(f"{base}/_mock/clock", timeout=10).json()["now"] for base in (a, b)]

    assert times == [START + 110, START + 110]


@pytest.mark.processes
def test_workers_need_a_shared_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli.main", "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "evolink-mock: error: --workers 2 would split the state between 2 processes, each with "
        "its own tasks and clock: keep it in Redis with --store redis://HOST:PORT/DB"
    ]


@pytest.mark.processes
@pytest.mark.realclock
def test_two_workers_on_redis_serve_one_state() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver.cli.main",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--clock",
            "virtual",
            "--timings",
            "fast",
            "--store",
            redis_url(),
            "--log-level",
            "warning",
        ],
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/_mock/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        made = call(base, "POST", "/v1/videos/generations", json=BODY).json()
        # new connections, spread over both workers: every one sees the task
        reads = [call(base, "GET", f"/v1/tasks/{made['id']}").status_code for _ in range(20)]
        httpx.post(f"{base}/_mock/clock/advance", json={"seconds": 60}, timeout=10)
        done = {call(base, "GET", f"/v1/tasks/{made['id']}").json()["status"] for _ in range(10)}
        httpx.post(f"{base}/_mock/reset", timeout=10)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)

    assert reads == [200] * 20
    assert done == {"completed"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.processes
@pytest.mark.realclock
def test_while_redis_is_down_the_api_answers_500_quickly_and_recovers_by_itself() -> None:
    with RedisProcess() as server:
        settings = Settings(timings=FAST, clock="virtual", start_time=START)
        sim = Simulator(settings, store=RedisStore(server.url, prefix="outage"))
        with serve_in_thread(create_app(simulator=sim)) as base:
            acknowledged = [
                call(base, "POST", "/v1/videos/generations", json=BODY).json()["id"]
                for _ in range(3)
            ]
            server.stop()
            started = time.monotonic()
            down = [call(base, "POST", "/v1/videos/generations", json=BODY) for _ in range(3)]
            health = httpx.get(f"{base}/_mock/health", timeout=10)
            took = time.monotonic() - started
            server.start()  # the same port; its append-only file kept what it acknowledged
            reads = [call(base, "GET", f"/v1/tasks/{i}").status_code for i in acknowledged]
            again = call(base, "POST", "/v1/videos/generations", json=BODY)
        sim.close()

    assert [r.status_code for r in down] == [500, 500, 500]
    assert {r.json()["error"]["code"] for r in down} == {"internal_error"}
    assert "Traceback" not in down[0].text
    assert health.status_code == 503
    assert took < 10  # no hang: each call fails within the store's timeouts
    assert reads == [200, 200, 200]
    assert again.status_code == 200


@pytest.mark.anyio
# the thousand are not measured for coverage (`no_cover`): they run the lines the forty run
# (per-test coverage contexts), and the tracer doubled their time
@pytest.mark.parametrize(
    "count", [40, pytest.param(1000, marks=[pytest.mark.slow, pytest.mark.no_cover])]
)
async def test_each_callback_is_sent_by_one_replica_though_both_know_the_task(
    tls: TLS, count: int
) -> None:
    url, prefix = redis_url(), f"test-{uuid.uuid4().hex}"
    with https_receiver(tls, [200]) as receiver:
        # a thousand at once queue for the engine's slots: give each answer time to come
        settings = callback_settings([receiver], tls, callback_timeout=10.0)
        a = Simulator(settings, store=RedisStore(url, prefix=prefix), resolver=FakeResolver())
        async with api_for(a) as api_a:
            made = [await create(api_a, receiver.url()) for _ in range(count)]
            # B starts after the tasks exist: it restores them and schedules their ends too
            b = Simulator(settings, store=RedisStore(url, prefix=prefix), resolver=FakeResolver())
            async with api_for(b) as api_b:
                # the ends, and room for the retries of any attempt a loaded machine drops
                await advance(api_b, ENDS_AFTER + 60)
                await advance(api_a, 0)  # A catches up with B's clock: its ends fall due too
                listed = await deliveries(api_a)

    sent = {request.json()["id"] for request in receiver.requests}
    assert sent == {task["id"] for task in made}  # none lost
    # one delivery per task across both replicas (a retry resends the same delivery)
    assert sorted(d["task_id"] for d in listed) == sorted(task["id"] for task in made)
    assert {d["outcome"] for d in listed} == {"delivered"}


@pytest.mark.processes
@pytest.mark.realclock
def test_redis_stopped_for_5_s_under_load() -> None:
    """Four clients create and read without pause; Redis is killed for 5 s in the middle. While
    it is down every answer is the documented 500 envelope or a 503 health, none slow; once it
    is back every acknowledged task reads 200 and creates pass, the mock never restarted."""
    answers: list[tuple[float, str, int, float, str]] = []  # at, what, status, seconds, code
    acknowledged: list[str] = []
    stop = threading.Event()
    auth = {"Authorization": f"Bearer {KEY}"}

    def load(base: str) -> None:
        with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
            for _ in range(100_000):  # bounded; `stop` ends it after a few seconds
                if stop.is_set():
                    return
                for what in ("create", "read", "health"):
                    started = time.monotonic()
                    if what == "create":
                        response = client.post("/v1/videos/generations", json=BODY)
                    elif what == "read" and acknowledged:
                        response = client.get(f"/v1/tasks/{acknowledged[-1]}")
                    else:
                        response = client.get("/_mock/health")
                    took = time.monotonic() - started
                    body = response.json()
                    failed = response.status_code >= 400
                    code = body.get("error", {}).get("code", "") if failed else ""
                    answers.append((started, what, response.status_code, took, code))
                    if what == "create" and response.status_code == 200:
                        acknowledged.append(body["id"])

    with RedisProcess() as server:  # append-only, fsync always: what it acknowledged it keeps
        options = ["--store", server.url, "--clock", "virtual"]
        with serving(*options) as served:
            clients = [threading.Thread(target=load, args=(served.url,)) for _ in range(4)]
            for loader in clients:
                loader.start()
            time.sleep(1.5)
            server.stop()
            down_from = time.monotonic()
            time.sleep(5)
            down_until = time.monotonic()
            server.start()  # the same port and folder
            time.sleep(3)
            stop.set()
            for loader in clients:
                loader.join(60)
            with httpx.Client(base_url=served.url, headers=auth, timeout=10) as client:
                reads = Counter(client.get(f"/v1/tasks/{i}").status_code for i in acknowledged)
                again = client.post("/v1/videos/generations", json=BODY).status_code
            still_running = served.process.poll() is None

    # an answer that began while Redis was down (a moment's grace for the kill to show)
    during = [a for a in answers if down_from + 0.1 <= a[0] <= down_until - 0.1]
    after = [a for a in answers if a[0] >= down_until + 1.0]
    print(
        f"\n{len(answers)} answers, {len(acknowledged)} tasks acknowledged; while down: "
        f"{Counter((a[1], a[2]) for a in during)}, slowest {max(a[3] for a in during):.3f} s; "
        f"after: {Counter((a[1], a[2]) for a in after)}; reads of the acknowledged: {reads}"
    )
    assert during, "no request ran while Redis was down"
    assert {(a[1], a[2], a[4]) for a in during} <= {
        ("create", 500, "internal_error"),
        ("read", 500, "internal_error"),
        ("health", 503, ""),
    }
    assert {a[1] for a in during} == {"create", "read", "health"}
    assert max(a[3] for a in during) < 3.0  # no hang: each fails within the store's timeouts
    assert {(a[1], a[2]) for a in after} == {("create", 200), ("read", 200), ("health", 200)}
    assert reads == {200: len(acknowledged)}
    assert again == 200
    assert still_running


ENTRY = Entry(START, "GET", "/v1/credits", None, 200, None)


def _connections(name: str) -> int:
    """How many connections named `name` Redis holds open."""
    with redis.Redis.from_url(redis_url()) as client:
        return sum(1 for c in client.client_list() if c["name"] == name)


def test_each_loop_calling_the_store_has_its_own_connections_and_close_closes_them() -> None:
    name = f"loops-{uuid.uuid4().hex[:8]}"
    store = RedisStore(f"{redis_url()}?client_name={name}", prefix=f"test-{name}")
    other = asyncio.new_event_loop()  # a server's loop, in a thread of its own
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run(store.log_request(ENTRY))  # a loop that ends first: it closes its connections
        after_run = _connections(name)
        asyncio.run_coroutine_threadsafe(store.log_request(ENTRY), other).result(10)
        in_thread = _connections(name)
        kept = asyncio.run(store.journal())
        store.close()  # from no loop: the thread's loop closes its own
        closed = _connections(name)
        with pytest.raises(StoreUnavailable, match="closed"):
            asyncio.run(store.journal())
    finally:
        store.close()
        other.call_soon_threadsafe(other.stop)
        thread.join(10)
        other.close()

    assert kept == [ENTRY, ENTRY]
    assert after_run == 0  # the loop that ended closed its own; the store has none of its own
    assert in_thread == 1
    assert closed == 0


def test_a_store_closed_on_the_loop_that_calls_it_closes_that_loops_connections() -> None:
    name = f"inside-{uuid.uuid4().hex[:8]}"
    store = RedisStore(f"{redis_url()}?client_name={name}", prefix=f"test-{name}")

    async def serve_then_close() -> int:
        await store.log_request(ENTRY)
        store.close()  # as the app's shutdown does, on the server's loop
        for _ in range(100):  # the connections close a moment later, on this loop
            await asyncio.sleep(0.01)
            if _connections(name) == 0:
                break
        return _connections(name)

    assert asyncio.run(serve_then_close()) == 0


@pytest.mark.anyio
async def test_calls_made_at_once_share_round_trips_and_each_gets_its_own_answer() -> None:
    name = f"batches-{uuid.uuid4().hex[:8]}"
    store = RedisStore(f"{redis_url()}?client_name={name}", prefix=f"test-{name}")
    request = VideoRequest("sora-2-pro-preview", "a cat", "16:9", 4, "720p")
    plan = Plan(START, START + 5, START + 45, None)
    made = [Task(f"task-unified-1-{n:08d}", "sk-a", request, plan, 7.0, "") for n in range(100)]
    try:
        refusals = await asyncio.gather(
            *(store.add_task(NewTask(t, None, None, START)) for t in made),
            store.add_task(NewTask(made[0], None, None, START)),
        )
        read = await asyncio.gather(*(store.get_task(t.id) for t in made))
        connections = _connections(name)
    finally:
        store.close()

    assert refusals == [Added(t) for t in made] + [Exists(made[0])]
    assert [t.id if t else None for t in read] == [t.id for t in made]
    # one for this loop's batches, each sent after the one before (the store has no loop of
    # its own)
    assert connections == 1


@pytest.mark.anyio
async def test_scripts_redis_forgot_are_loaded_again() -> None:
    store = RedisStore(redis_url(), prefix=f"test-{uuid.uuid4().hex}")
    try:
        await store.log_request(ENTRY)
        with redis.Redis.from_url(redis_url()) as client:
            client.script_flush()  # as a restarted Redis without persistence
        await asyncio.gather(*(store.log_request(ENTRY) for _ in range(20)))
        kept = await store.journal()
    finally:
        store.close()

    assert kept == [ENTRY] * 21
