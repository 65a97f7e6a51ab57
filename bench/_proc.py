"""What the benchmark scripts share: a server in a subprocess of its own session, and one HTTP call.

Imported as a sibling (`from _proc import ...`): the scripts run as `python bench/NAME.py`.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


class SetupError(Exception):
    """Something a benchmark needs is missing or would not start (exit status 2)."""


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on HOST (held together while chosen, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} has not been started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("w", encoding="utf-8") as log:
            # its own session: Ctrl-C reaches only us, and stop() ends it with any children
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float, ready: Callable[[], bool] | None = None) -> None:
        """Until `ready()` (default: the port answers HTTP, any status), the process dies, or
        `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                code = self.proc.returncode if self.proc is not None else None
                raise SetupError(
                    f"{self.name} exited with status {code} before it was ready; "
                    f"see {self.log_path}"
                )
            if ready is not None:
                if ready():
                    return
            else:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    request(self.port, "GET", "/", timeout=1.0)
                    return
            time.sleep(0.2)
        raise SetupError(f"{self.name} was not ready after {timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@dataclass(frozen=True)
class WrkOptions:
    """How the benchmarks run wrk: its binary, threads, connections and per-request timeout."""

    wrk: str
    threads: int
    connections: int
    timeout: float

    def argv(self, seconds: float, script: Path, url: str, *script_args: str) -> list[str]:
        """wrk's command line for a run of `seconds` with a Lua `script` (and its arguments)."""
        argv = [
            self.wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{seconds:g}s",
            f"--timeout={self.timeout:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        return [*argv, "--", *script_args] if script_args else argv
