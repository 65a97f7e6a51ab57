"""pytest fixtures for testing your own code against the simulator (entry point `evolink_mock`).

- `evolink_mock`: the simulator on a free 127.0.0.1 port in a thread, on the virtual clock, with
  a callback receiver it may send to. Your code talks to `evolink_mock.base_url` with
  `evolink_mock.api_key`; the test moves time, injects faults and reads the journal and the
  callback log through it.
- `evolink_receiver`: that receiver: HTTPS on 127.0.0.1 with a throwaway CA the simulator trusts
  (callback URLs must be https, as on the real API); set `.script` to choose its answers.
- `evolink_respx`: respx routing httpx.AsyncClient traffic for https://api.evolink.ai to a
  simulator in-process, no socket at all; `evolink_respx.simulator` is its state.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ._app import create_app
from ._backend import Simulator
from ._receiver import Receiver
from ._settings import Settings
from ._thread import serve_in_thread

if TYPE_CHECKING:
    import respx

API_KEY = "sk-evolink-mock-test"
VENDOR_BASE_URL = "https://api.evolink.ai"


@dataclass
class MockServer:
    """A running simulator, and the handles a test needs on it."""

    base_url: str
    api_key: str
    simulator: Simulator
    receiver: Receiver

    def _admin(self, method: str, path: str, **kwargs: Any) -> Any:
        # Through HTTP, so the work runs on the server's own event loop (callbacks included).
        response = httpx.request(method, f"{self.base_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def advance(self, seconds: float) -> float:
        """Move the virtual clock; tasks and callbacks due on the way happen. Returns the time."""
        now: float = self._admin("POST", "/_mock/clock/advance", json={"seconds": seconds})["now"]
        return now

    def fault(
        self,
        scenario: str,
        *,
        operation: str | None = None,
        api_key: str | None = None,
        times: int | None = None,
    ) -> dict[str, Any]:
        """Make matching requests answer `scenario` (see `evolink-mock scenarios`)."""
        body = {
            "scenario": scenario,
            "match": {"operation": operation, "api_key": api_key},
            "times": times,
        }
        fault: dict[str, Any] = self._admin("POST", "/_mock/faults", json=body)
        return fault

    def requests(self) -> list[dict[str, Any]]:
        """The request journal: method, path, redacted key, status, scenario, time."""
        entries: list[dict[str, Any]] = self._admin("GET", "/_mock/requests")
        return entries

    def callbacks(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """Callback deliveries and their attempts."""
        params = {"task_id": task_id} if task_id else None
        deliveries: list[dict[str, Any]] = self._admin("GET", "/_mock/callbacks", params=params)
        return deliveries

    def reset(self) -> None:
        self._admin("POST", "/_mock/reset")


@pytest.fixture(scope="session")
def _evolink_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM file) and a server context with a 127.0.0.1 certificate."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("the evolink_mock fixtures need trustme: pip install trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("evolink-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ca_file, context


@pytest.fixture
def evolink_receiver(_evolink_tls: tuple[Path, ssl.SSLContext]) -> Iterator[Receiver]:
    with Receiver([200], ssl_context=_evolink_tls[1]) as receiver:
        yield receiver


@pytest.fixture
def evolink_mock(
    evolink_receiver: Receiver, _evolink_tls: tuple[Path, ssl.SSLContext]
) -> Iterator[MockServer]:
    settings = Settings(
        clock="virtual",
        api_keys=frozenset({API_KEY}),
        callback_allow=frozenset({evolink_receiver.authority}),
        callback_ca_file=str(_evolink_tls[0]),
        callback_timeout=1.0,
    )
    simulator = Simulator(settings)
    with serve_in_thread(create_app(simulator=simulator)) as base_url:
        yield MockServer(base_url, API_KEY, simulator, evolink_receiver)


@pytest.fixture
def evolink_respx() -> Iterator[respx.MockRouter]:
    import respx

    simulator = Simulator(Settings(clock="virtual"))
    handler = respx.ASGIHandler(create_app(simulator=simulator))
    with respx.mock(base_url=VENDOR_BASE_URL, assert_all_called=False) as router:
        router.route().mock(side_effect=handler)
        router.simulator = simulator  # type: ignore[attr-defined]
        yield router
