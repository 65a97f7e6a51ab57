"""evolink-mock's container image started by testcontainers (the `containers` extra:
``pip install 'evolink-sora-mock[containers]'``), for tests that want the mock as a container
rather than in their own process::

    from mockserver.testing.container import EvolinkMockContainer

    with EvolinkMockContainer("evolink-mock:latest") as mock:
        httpx.post(f"{mock.url}/_mock/clock/advance", json={"seconds": 60},
                   headers=mock.admin_headers)

Any Docker-compatible engine: Docker, or podman's socket (``podman system service``, then
``DOCKER_HOST=unix:///path/to/podman.sock``); with podman also set
``TESTCONTAINERS_RYUK_DISABLED=true`` (its reaper image is pulled from Docker Hub) and
``TESTCONTAINERS_CONNECTION_MODE=docker_host`` when the tests themselves run in a container.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Self

import httpx
from testcontainers.core.container import DockerContainer

PORT = 8000
STARTUP_TIMEOUT = 30.0


class EvolinkMockContainer(DockerContainer):
    """The image serving on a random port of 127.0.0.1 (never on the host's other
    interfaces), with an admin token of its own, healthy when `start()` returns. `serve` is what
    follows `serve --host 0.0.0.0 --port 8000` (by default, the virtual clock)."""

    def __init__(
        self,
        image: str = "evolink-mock:latest",
        *,
        serve: tuple[str, ...] = ("--clock", "virtual"),
        admin_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image, **kwargs)
        self.admin_token = admin_token or secrets.token_hex(16)
        self.with_env("EVOLINK_MOCK_ADMIN_TOKEN", self.admin_token)
        self.with_command(["serve", "--host", "0.0.0.0", "--port", str(PORT), *serve])
        # docker's (HostIp,) binding: a free port on loopback only; testcontainers' own
        # with_bind_ports takes a port number, which binds every interface
        self.ports[f"{PORT}/tcp"] = ("127.0.0.1",)  # type: ignore[assignment]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.get_exposed_port(PORT)}"

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def start(self) -> Self:
        super().start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if httpx.get(f"{self.url}/_mock/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                logs = b"".join(self.get_logs()).decode(errors="replace")
                self.stop()
                raise RuntimeError(
                    f"evolink-mock: {self.url}/_mock/health did not answer in "
                    f"{STARTUP_TIMEOUT:g} s:\n{logs}"
                )
            time.sleep(0.2)
