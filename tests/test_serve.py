"""`evolink-mock serve` as a user runs it: a real process, a real socket, the real clock."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from .mp4probe import probe

pytestmark = pytest.mark.realclock


@pytest.fixture
def server() -> Iterator[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mockserver.cli.main",
            "serve",
            "--port",
            "0",
            "--speed",
            "50",
            "--api-key",
            "sk-real",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    base_url = None
    lines = []
    while base_url is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if found := re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line):
            base_url = found.group(1)
        elif process.poll() is not None:
            break
    if base_url is None:
        process.kill()
        process.wait()
        process.stderr.close()
        pytest.fail("the server did not start:\n" + "".join(lines))
    # keep reading the log so that a full pipe never blocks the server
    rest: list[str] = []
    stderr = process.stderr
    assert stderr is not None
    drain = threading.Thread(target=lambda: rest.append(stderr.read()), daemon=True)
    drain.start()
    try:
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        drain.join(timeout=5)
        process.stderr.close()
        # uvicorn shuts down gracefully, then re-raises the signal: the conventional exit
        assert code == -signal.SIGTERM
        assert "Finished server process" in "".join(rest)


def test_a_task_runs_its_life_on_the_real_clock_and_its_video_downloads(server: str) -> None:
    headers = {"Authorization": "Bearer sk-real"}
    body = {
        "model": "sora-2-pro-preview",
        "prompt": "a cat",
        "aspect_ratio": "9:16",
        "quality": "1080p",
    }
    with httpx.Client(base_url=server, headers=headers, timeout=5) as client:
        assert client.get("/_mock/health").json()["clock"] == "real"
        task = client.post("/v1/videos/generations", json=body).json()
        seen = [task["status"]]
        deadline = time.monotonic() + 15  # 65 simulated seconds take 1.3 s at --speed 50
        while task["status"] != "completed" and time.monotonic() < deadline:
            time.sleep(0.05)
            task = client.get(f"/v1/tasks/{task['id']}").json()
            if task["status"] != seen[-1]:
                seen.append(task["status"])
        video = client.get(task["results"][0])

    assert seen == ["pending", "processing", "completed"]
    info = probe(video.content)
    assert (info.width, info.height, round(info.duration)) == (1024, 1792, 4)


def test_a_drop_scenario_closes_the_connection_mid_response(server: str) -> None:
    body = {"model": "sora-2-pro-preview", "prompt": "a cat"}
    headers = {"Authorization": "Bearer sk-real", "X-Mock-Scenario": "drop"}
    with httpx.Client(base_url=server, timeout=5) as client:
        # the peer closing mid-body shows as an incomplete response or, if the close races the
        # read, as a reset: both are the dropped connection the scenario promises
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/v1/videos/generations", json=body, headers=headers)
        after = client.get("/_mock/health")

    assert after.status_code == 200  # the server itself carries on
