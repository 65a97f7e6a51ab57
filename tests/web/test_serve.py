"""`evolink-mock serve` as a user runs it: a real process, a real socket, the real clock."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from ..bodies import create_body
from ..mp4probe import probe
from ..served import Served

pytestmark = [pytest.mark.realclock, pytest.mark.processes]


@pytest.fixture
def server() -> Iterator[str]:
    served = Served("--speed", "50", "--api-key", "sk-real", timings="vendor")
    try:
        served.wait_started()
        yield served.url
        code = served.terminate()
    finally:
        served.close()
    # uvicorn shuts down gracefully, then re-raises the signal: the conventional exit
    assert code == -signal.SIGTERM
    assert "Finished server process" in served.log()


def test_a_task_runs_its_life_on_the_real_clock_and_its_video_downloads(server: str) -> None:
    headers = {"Authorization": "Bearer sk-real"}
    body = create_body(prompt="a cat", aspect_ratio="9:16", quality="1080p")
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
    body = create_body(prompt="a cat")
    headers = {"Authorization": "Bearer sk-real", "X-Mock-Scenario": "drop"}
    with httpx.Client(base_url=server, timeout=5) as client:
        # the peer closing mid-body shows as an incomplete response or, if the close races the
        # read, as a reset: both are the dropped connection the scenario promises
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post("/v1/videos/generations", json=body, headers=headers)
        after = client.get("/_mock/health")

    assert after.status_code == 200  # the server itself carries on


def test_a_websocket_upgrade_is_answered_as_plain_http(server: str) -> None:
    # serve loads no websocket implementation (the API has no websocket route, and start-up is
    # quicker without one): the upgrade headers are ignored and the request answered as HTTP
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    answer = httpx.get(f"{server}/_mock/health", headers=upgrade, timeout=5)

    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_an_upgrade_is_logged_without_advice_to_install_a_websocket_library() -> None:
    served = Served("--api-key", "sk-real")
    try:
        served.wait_started()
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"}
        assert httpx.get(f"{served.url}/_mock/health", headers=upgrade, timeout=5).is_success
        served.terminate()
        log = served.log()
    finally:
        served.close()

    assert "Unsupported upgrade request." in log
    assert "No supported WebSocket library" not in log  # it is left out on purpose
