"""Shared by the callback tests: a fake resolver, a throwaway CA, and a simulator wired to a
local receiver. Nothing here sends a packet beyond 127.0.0.1 or asks real DNS anything.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trustme

from mockserver import Settings, Simulator, create_app
from mockserver.domain.timing import FAST
from mockserver.testing.receiver import Receiver

from .bodies import create_body

START = 1_800_000_000.0
KEY = "sk-callbacks"
CREATE = create_body(duration=4)
ENDS_AFTER = 45.0  # 5 s pending + 10 s per second of a 4 s video


class FakeResolver:
    """Answers from a table (which tests may change between submit and delivery); any other
    name does not resolve. Records what it was asked."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.table:
            return self.table[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@dataclass(frozen=True)
class TLS:
    """A throwaway CA: the receiver serves with `server_context`, the mock trusts `ca_file`."""

    ca_file: str
    server_context: ssl.SSLContext


def make_tls(directory: Path, *names: str) -> TLS:
    ca = trustme.CA()
    cert = ca.issue_cert(*(names or ("127.0.0.1", "localhost")))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TLS(str(ca_file), context)


def https_receiver(tls: TLS, script: Iterable[Any] = (200,)) -> Receiver:
    return Receiver(list(script), ssl_context=tls.server_context)


def callback_settings(
    receivers: Iterable[Receiver], tls: TLS | None = None, **settings: Any
) -> Settings:
    """A virtual clock, and a policy that opens exactly the receivers' host:port. The
    product's 10 s callback timeout: a test of timeouts sets a short one itself, and a short
    default fails a healthy exchange on a loaded machine (0.3 s did: 3 of 4 attempts arrived)."""
    options: dict[str, Any] = {
        "clock": "virtual",
        "start_time": START,
        "callback_allow": frozenset(r.authority for r in receivers),
        "callback_ca_file": tls.ca_file if tls is not None else None,
    }
    options.update(settings)
    return Settings(timings=FAST, **options)


@asynccontextmanager
async def api_for(sim: Simulator, key: str = KEY) -> AsyncIterator[httpx.AsyncClient]:
    """The simulator's app in-process (no lifespan: the test plays it), authenticated as `key`;
    closed on the way out the way the app's shutdown closes it (scheduler, callbacks, database)."""
    transport = httpx.ASGITransport(create_app(simulator=sim))
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://mock.test", headers=headers
        ) as client:
            yield client
    finally:
        await sim.aclose()


async def create(
    api: httpx.AsyncClient, callback_url: str | None, *, scenario: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A task made with `CREATE` (and `extra` fields), under `scenario` if given."""
    body = {**CREATE, **extra}
    if callback_url is not None:
        body["callback_url"] = callback_url
    headers = {"X-Mock-Scenario": scenario} if scenario is not None else None
    response = await api.post("/v1/videos/generations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def advance(api: httpx.AsyncClient, seconds: float) -> None:
    response = await api.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def deliveries(api: httpx.AsyncClient, task_id: str | None = None) -> list[dict[str, Any]]:
    params = {"task_id": task_id} if task_id is not None else {}
    response = await api.get("/_mock/callbacks", params=params)
    assert response.status_code == 200, response.text
    listing: list[dict[str, Any]] = response.json()
    return listing
