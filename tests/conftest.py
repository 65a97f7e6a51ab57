from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from mockserver import MemoryStore, Settings, Simulator, Store, create_app
from mockserver.delivery.ssrf import offline_resolver
from mockserver.domain.timing import FAST
from mockserver.storage.redis import RedisStore
from mockserver.storage.sqlite import SqliteStore

from .callback_fixtures import TLS, make_tls
from .redis_server import redis_url

START = 1_800_000_000.0  # a fixed simulated start, so timestamps in tests are exact
KEY = "sk-test-owner"

#: Every store, by name: the behaviour tests that touch state run against each. A new store
#: joins here.
STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda directory: MemoryStore(),
    "sqlite": lambda directory: SqliteStore(str(directory / "state.db")),
    # one redis-server per test process; each store its own prefix
    "redis": lambda directory: RedisStore(redis_url(), prefix=f"test-{uuid.uuid4().hex}"),
}


class MakeSimulator(Protocol):
    def __call__(self, settings: Settings | None = None, **kwargs: Any) -> Simulator: ...


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A behaviour test run on the Redis store is a Redis test (`-m 'not redis'` leaves it out)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("store_name") == "redis":
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLS:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, shared by the
    session's HTTPS receivers and image servers."""
    return make_tls(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test asks real DNS about a callback host: a simulator's default resolver resolves
    nothing (names are accepted at submit, fail at delivery); tests that need names inject one."""
    monkeypatch.setattr("mockserver.delivery.engine.system_resolver", offline_resolver)


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """`serve` run in-process (the CLI's tests) makes log records quiet process-wide
    (`cli.logging.quiet_log_records`); each test starts from logging as it was."""
    names = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
    kept = [getattr(logging, name) for name in names]
    yield
    for name, value in zip(names, kept, strict=True):
        setattr(logging, name, value)


@pytest.fixture(params=sorted(STORES))
def store_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_simulator(
    store_name: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MakeSimulator]:
    """Makes simulators on the store under test (each its own), closed after the test."""
    made: list[Simulator] = []

    def make(settings: Settings | None = None, **kwargs: Any) -> Simulator:
        store = STORES[store_name](tmp_path_factory.mktemp(store_name))
        sim = Simulator(
            settings or Settings(timings=FAST, clock="virtual", start_time=START),
            store=store,
            **kwargs,
        )
        opened(sim)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def opened(sim: Simulator) -> Simulator:
    """The simulator, its store opened, whether or not an event loop runs here (a test's
    factory is called from sync and from async tests alike): on a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, sim.open()).result(30)
    return sim


@pytest.fixture
def sim(make_simulator: MakeSimulator) -> Simulator:
    return make_simulator()


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client reaching a fresh simulator in-process, authenticated as KEY."""
    transport = httpx.ASGITransport(create_app(simulator=sim))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://mock.test", headers=headers
    ) as client:
        yield client
