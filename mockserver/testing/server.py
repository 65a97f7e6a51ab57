"""Serve an ASGI app over a real socket from a background thread, for tests and examples.

The socket is bound here (127.0.0.1, port 0) before uvicorn starts, so the port is known without
parsing logs and two servers never race for one port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 10


@contextmanager
def serve_in_thread(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    startup_timeout: float = STARTUP_TIMEOUT,
    shutdown_timeout: int = SHUTDOWN_TIMEOUT,
    http: str = "auto",
    loop: str = "auto",
) -> Iterator[str]:
    """Run `app` with uvicorn until the block exits; yields its base URL, ``http://host:port``.
    `http` and `loop` choose uvicorn's HTTP protocol and event loop, as its `--http` and `--loop`
    do (by default httptools and uvloop where they are installed).

    Raises RuntimeError if the server has not started within `startup_timeout` seconds.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            http=http,
            loop=loop,
            log_level="warning",
            access_log=False,
            # No websocket routes here; not loading an implementation also keeps the websockets
            # package's deprecation warnings out of `filterwarnings = error` test runs.
            ws="none",
            lifespan="auto",
            timeout_graceful_shutdown=shutdown_timeout,
        )
        server = uvicorn.Server(config)
        failures: list[BaseException] = []

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except (Exception, SystemExit) as exc:  # uvicorn calls sys.exit() when startup fails
                failures.append(exc)

        thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + startup_timeout
            while not server.started:
                if not thread.is_alive():
                    cause = failures[0] if failures else None
                    raise RuntimeError(
                        f"the server on {host}:{port} exited during startup"
                    ) from cause
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the server on {host}:{port} did not start within {startup_timeout} s"
                    )
                time.sleep(0.01)
            yield f"http://{host}:{port}"
        finally:
            server.should_exit = True
            thread.join(shutdown_timeout)
            if thread.is_alive():
                server.force_exit = True
                thread.join(1.0)
    finally:
        sock.close()
