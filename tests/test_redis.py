"""Several simulators on one Redis see one state: what one replica keeps, another reads; each
check-and-change is atomic across them. The behaviour suite runs on Redis too (`STORES`)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.timing import FAST
from mockserver.storage.redis import RedisStore
from mockserver.testing import serve_in_thread

from .redis_server import redis_url

KEY = "sk-replicas"
BURSTY = "sk-bursty"  # rate 0.001 a second, burst 2
BODY = {"model": "sora-2-pro-preview", "prompt": "a cat"}
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
