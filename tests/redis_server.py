"""A real `redis-server` for the tests: started once per test process on a free port of
127.0.0.1, in a temporary folder, with no persistence; stopped when the process ends."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

#: `.ci/run` sets this: there the Redis tests must run, never skip.
REQUIRED = os.environ.get("EVOLINK_TEST_REDIS") == "required"

_url: str | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_url() -> str:
    """The URL of this process's Redis, started on first use (skips the test if there is no
    `redis-server` and the run does not require one)."""
    global _url
    if _url is None:
        server = RedisProcess(appendonly=False)
        server.start()
        atexit.register(server.__exit__)
        _url = server.url
    return _url


class RedisProcess:
    """A `redis-server` of a test's own, that the test may stop and start again on the same
    port; with `appendonly`, what it acknowledged survives its restart."""

    def __init__(self, *, appendonly: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if REQUIRED:
                pytest.fail("redis-server is not installed (apt-get install redis-server)")
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.folder = tempfile.mkdtemp(prefix="evolink-redis-")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else []
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.folder,
                "--save",
                "",
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_pong(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _wait_for_pong(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"redis-server did not answer on 127.0.0.1:{port} within 10 s")
