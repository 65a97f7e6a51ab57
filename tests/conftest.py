from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver._ssrf import offline_resolver

START = 1_800_000_000.0  # a fixed simulated start, so timestamps in tests are exact
KEY = "sk-test-owner"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test asks real DNS about a callback host: a simulator's default resolver resolves
    nothing (names are accepted at submit, fail at delivery); tests that need names inject one."""
    monkeypatch.setattr("mockserver._callbacks.system_resolver", offline_resolver)


@pytest.fixture
def sim() -> Simulator:
    return Simulator(Settings(clock="virtual", start_time=START))


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client reaching a fresh simulator in-process, authenticated as KEY."""
    transport = httpx.ASGITransport(create_app(simulator=sim))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://mock.test", headers=headers
    ) as client:
        yield client
