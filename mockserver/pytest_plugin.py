"""pytest fixtures for testing your own code against the simulator (entry point `evolink_mock`).

One simulator serves the whole session, on a free 127.0.0.1 port, on the virtual clock; each test
gets it reset (tasks, faults, journal, balances, callbacks) through `evolink_mock`:

- `evolink_mock`: a `MockServer` handle. Your code talks to `evolink_mock.base_url` with
  `evolink_mock.api_key`; the test moves time, injects faults and reads the journal and the
  callback log through the handle. An admin call the simulator refuses raises `MockServerError`
  with the simulator's own message.
- `evolink_receiver`: an HTTPS callback receiver the simulator trusts (callback URLs must be
  https, as on the real API), emptied for each test; set `.script` to choose its answers.
- `evolink_mock_settings`: the session simulator's `Settings`. Override it (session scope) in
  your conftest to change them; the fixture you override is yours to ask for, to start from it:

      @pytest.fixture(scope="session")
      def evolink_mock_settings(evolink_mock_settings):
          return dataclasses.replace(evolink_mock_settings, prompt_markers=True)

- `evolink_respx`: an `InProcessMock` handle: respx routing httpx traffic for
  https://api.evolink.ai to a fresh simulator in-process, no socket at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # imported by the fixtures that use them: pytest loads this for every run
    import respx

    from .service.simulator import Simulator
    from .settings import Settings
    from .testing.receiver import Receiver

API_KEY = "sk-evolink-mock-test"
VENDOR_BASE_URL = "https://api.evolink.ai"


class MockServerError(Exception):
    """An admin call the simulator refused, with what it said."""


@dataclasses.dataclass
class MockServer:
    """A running simulator, and the handles a test needs on it."""

    base_url: str
    api_key: str
    #: The simulator in this process; None for a shared server (`EVOLINK_MOCK_URL`).
    simulator: Simulator | None
    receiver: Receiver
    #: On a shared `--isolate-keys` server: the world (the key) every admin call addresses.
    world: str | None = None
    #: The shared server's `--admin-token` (`EVOLINK_MOCK_ADMIN_TOKEN`).
    admin_token: str | None = None

    def _admin(self, method: str, path: str, *, wait: float = 0.0, **kwargs: Any) -> Any:
        # through HTTP, so that the work runs on the server's own event loop (callbacks too)
        token = self.admin_token
        if token is None and self.simulator is not None:
            token = self.simulator.settings.admin_token
        if self.world is not None:
            kwargs["params"] = {**(kwargs.get("params") or {}), "api_key": self.world}
        if token is not None:
            kwargs["headers"] = {"Authorization": f"Bearer {token}", **kwargs.get("headers", {})}
        timeout = 30 + wait  # a long-poll holds the answer back that long
        try:
            response = httpx.request(method, f"{self.base_url}{path}", timeout=timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise MockServerError(f"{method} {path}: the simulator did not answer: {exc}") from exc
        if response.is_error:
            try:
                said = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                said = response.text[:500]
            raise MockServerError(f"{method} {path} answered {response.status_code}: {said}")
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

    def wait_for_callback(self, task_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The task's callback delivery, as soon as an attempt of it has an outcome (the
        server answers the moment it does: no polling); AssertionError after `timeout` real
        seconds, showing the callbacks that were seen."""
        params = {"task_id": task_id, "wait": timeout}
        found: list[dict[str, Any]] = self._admin(
            "GET", "/_mock/callbacks", params=params, wait=timeout
        )
        if found:
            return found[-1]
        seen = self.callbacks()
        listing = "\n".join(
            f"  {d['task_id']} -> {d['url']}: {d['outcome']}, {len(d['attempts'])} attempt(s)"
            for d in seen
        )
        raise AssertionError(
            f"no callback attempt for {task_id} within {timeout:g} s; "
            f"callbacks seen ({len(seen)}):\n{listing or '  none'}"
        )

    def assert_requests(
        self,
        *,
        operation: str | None = None,
        count: int | None = None,
        status: int | None = None,
        api_key: str | None = None,
        header: str | None = None,
        timeout: float = 0.0,
    ) -> list[dict[str, Any]]:
        """The journal entries that match (`operation`: create, query or an operationId;
        `header`: `"Name"`, the request carried it, or `"Name: value"`, with that value); with
        `count`, exactly that many of them, waiting up to `timeout` real seconds for them to
        arrive. AssertionError otherwise, listing every request the journal holds."""
        params: dict[str, Any] = {
            "operation": operation,
            "status": status,
            "api_key": api_key,
            "header": header,
        }
        params = {k: v for k, v in params.items() if v is not None}
        if timeout > 0:
            params |= {"wait": timeout, "count": max(count or 1, 1)}
        found: list[dict[str, Any]] = self._admin(
            "GET", "/_mock/requests", params=params, wait=timeout
        )
        if count is not None and len(found) != count:
            every = self.requests()
            listing = "\n".join(
                f"  {e['method']} {e['path']} -> {e['status']}"
                + (f" [{e['scenario']}]" if e["scenario"] else "")
                + f" key {e['api_key']}"
                for e in every[-50:]
            )
            wanted = ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("wait", "count"))
            raise AssertionError(
                f"expected {count} request(s) matching {wanted or 'anything'}, found "
                f"{len(found)}; the journal holds {len(every)}:\n{listing or '  none'}"
            )
        return found

    def reset(self) -> None:
        """Forget tasks, faults, journal, balances and callbacks; empty the receiver."""
        self._admin("POST", "/_mock/reset")
        self.receiver.reset()


@dataclasses.dataclass
class InProcessMock:
    """A simulator reached through respx, in-process: `router` is respx's."""

    router: respx.MockRouter
    simulator: Simulator

    @property
    def calls(self) -> respx.models.CallList:
        return self.router.calls

    async def advance(self, seconds: float) -> float:
        """Move the virtual clock; tasks and callbacks due on the way happen."""
        return await self.simulator.advance(seconds)


@pytest.fixture(scope="session")
def _evolink_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM file) and a server context with a 127.0.0.1 certificate."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail(
            "the evolink_mock fixtures need trustme: pip install 'evolink-sora-mock[pytest]'"
        )
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("evolink-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ca_file, context


#: A server the session shares with others instead of starting its own (e.g. one per CI job,
#: for every xdist worker): `evolink-mock serve --isolate-keys --clock virtual
#: --callback-allow 127.0.0.1 --callback-ca-file DIR/ca.pem`. Each worker gets its own key,
#: its own world.
SHARED_URL_ENV = "EVOLINK_MOCK_URL"
#: The folder of the CA the shared server trusts (`python -m mockserver.testing.ca DIR`, then
#: `serve --callback-ca-file DIR/ca.pem`): receivers serve HTTPS with a certificate from it.
SHARED_CA_ENV = "EVOLINK_MOCK_CA_DIR"


def _shared_url() -> str | None:
    return os.environ.get(SHARED_URL_ENV, "").rstrip("/") or None


def worker_key() -> str:
    """This session's key on a shared server: one per xdist worker and per test run, so that
    workers, and two runs at once, never share a world."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{API_KEY}-{run[:12]}-{worker}"


@pytest.fixture(scope="session")
def _evolink_receiver_server(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    from .testing.receiver import Receiver

    if _shared_url() is not None:
        # the shared server trusts the CA in EVOLINK_MOCK_CA_DIR, which issues our certificate;
        # without one, a plain-HTTP receiver (the server needs --callback-allow-http)
        from .testing.ca import server_context

        ca_dir = os.environ.get(SHARED_CA_ENV)
        context = server_context(Path(ca_dir)) if ca_dir else None
        with Receiver([200], ssl_context=context) as receiver:
            yield receiver
        return
    tls: tuple[Path, ssl.SSLContext] = request.getfixturevalue("_evolink_tls")
    with Receiver([200], ssl_context=tls[1]) as receiver:
        yield receiver


@pytest.fixture(scope="session")
def evolink_mock_settings(
    _evolink_receiver_server: Receiver, request: pytest.FixtureRequest
) -> Settings:
    """The session simulator's settings: virtual clock, one accepted key, callbacks allowed to
    the receiver (and its CA trusted). Override to change them. A shared server
    (`EVOLINK_MOCK_URL`) has its own: these are not used then."""
    from .settings import Settings

    if _shared_url() is not None:
        return Settings(clock="virtual")
    tls: tuple[Path, ssl.SSLContext] = request.getfixturevalue("_evolink_tls")
    return Settings(
        clock="virtual",
        api_keys=frozenset({API_KEY}),
        callback_allow=frozenset({_evolink_receiver_server.authority}),
        callback_ca_file=str(tls[0]),
        callback_timeout=1.0,
    )


@pytest.fixture(scope="session")
def evolink_mock_server(
    evolink_mock_settings: Settings, _evolink_receiver_server: Receiver
) -> Iterator[MockServer]:
    """The session's simulator, started once; `evolink_mock` resets it for each test."""
    from .service.simulator import Simulator
    from .testing.server import serve_in_thread
    from .web.app import create_app

    shared = _shared_url()
    if shared is not None:
        server = _shared_server(shared, _evolink_receiver_server)
        yield server
        with contextlib.suppress(MockServerError):  # leave the shared server as we found it
            server._admin("POST", "/_mock/reset")
        return
    keys = evolink_mock_settings.api_keys
    api_key = API_KEY if keys is None or API_KEY in keys else sorted(keys)[0]
    simulator = Simulator(evolink_mock_settings)
    with serve_in_thread(create_app(simulator=simulator)) as base_url:
        yield MockServer(base_url, api_key, simulator, _evolink_receiver_server)


def _shared_server(base_url: str, receiver: Receiver) -> MockServer:
    try:
        health = httpx.get(f"{base_url}/_mock/health", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        pytest.fail(f"{SHARED_URL_ENV}={base_url}: no evolink-mock answers there: {exc}")
    if "worlds" not in health:
        pytest.fail(
            f"{SHARED_URL_ENV}={base_url} was not started with --isolate-keys: the workers "
            "would share one clock, journal and reset"
        )
    key = worker_key()
    token = os.environ.get("EVOLINK_MOCK_ADMIN_TOKEN") or None
    return MockServer(base_url, key, None, receiver, world=key, admin_token=token)


@pytest.fixture
def evolink_receiver(_evolink_receiver_server: Receiver) -> Receiver:
    _evolink_receiver_server.reset()
    return _evolink_receiver_server


@pytest.fixture
def evolink_mock(evolink_mock_server: MockServer, evolink_receiver: Receiver) -> MockServer:
    evolink_mock_server.reset()
    return evolink_mock_server


@pytest.fixture
def evolink_respx() -> Iterator[InProcessMock]:
    try:
        import respx
    except ImportError:  # pragma: no cover - the pytest and test extras install it
        pytest.fail(
            "the evolink_respx fixture needs respx: pip install 'evolink-sora-mock[pytest]'"
        )

    from .service.simulator import Simulator
    from .settings import Settings
    from .web.app import create_app

    simulator = Simulator(Settings(clock="virtual"))
    handler = respx.ASGIHandler(create_app(simulator=simulator))
    with respx.mock(base_url=VENDOR_BASE_URL, assert_all_called=False) as router:
        router.route().mock(side_effect=handler)
        yield InProcessMock(router, simulator)
