"""`evolink-mock serve` as a real process, for the tests that kill it or run several."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


class Served:
    """A `serve` subprocess; its log (stderr) is read all along, so a full pipe never blocks it."""

    def __init__(self, *args: str, timings: str = "fast") -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mockserver.cli.main",
                "serve",
                "--port",
                "0",
                "--timings",
                timings,
                *args,
            ],
            stdout=subprocess.DEVNULL,  # the access log
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.append(line)

    def log(self) -> str:
        return "".join(self._lines)

    def wait_started(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", self.log()):
                self.url = found.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        pytest.fail("the server did not start:\n" + self.log())

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        self.process.stderr.close()


@contextmanager
def serving(*args: str) -> Iterator[Served]:
    served = Served(*args)
    try:
        served.wait_started()
        yield served
    finally:
        served.close()
