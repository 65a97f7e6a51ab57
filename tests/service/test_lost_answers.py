"""Lost answers and callback faults: `drop-after-create`, `callback:duplicate`,
`callback:delay:SECONDS`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from evolink_client import NO_RETRY, APIConnectionError, Client
from mockserver import Settings, Simulator, create_app
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.timing import FAST
from mockserver.testing import serve_in_thread

from ..bodies import create_body
from ..callback_fixtures import (
    ENDS_AFTER,
    START,
    TLS,
    FakeResolver,
    advance,
    api_for,
    callback_settings,
    create,
    deliveries,
    https_receiver,
)
from ..conftest import MakeSimulator

KEY = "sk-lost-answer"
BODY = create_body(prompt="a cat")


@pytest.fixture
def served() -> Iterator[tuple[str, Simulator]]:
    profiles = Profiles(keys={KEY: KeyProfile(credits=1000)})
    sim = Simulator(Settings(timings=FAST, clock="virtual", profiles=profiles))
    with serve_in_thread(create_app(simulator=sim)) as base_url:
        yield base_url, sim


def admin(base_url: str, path: str) -> Any:
    return httpx.get(f"{base_url}{path}", timeout=5).json()


def test_drop_after_create_cuts_the_connection_after_the_task_is_made_and_reserved(
    served: tuple[str, Simulator],
) -> None:
    base_url, _ = served
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps(BODY).encode()
    request = (
        f"POST /v1/videos/generations HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {KEY}\r\nX-Mock-Scenario: drop-after-create\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        try:
            received = conn.recv(65536)
        except ConnectionResetError:
            received = b""
    assert received == b""  # not one byte of the answer: no status line, no headers

    tasks = admin(base_url, "/_mock/tasks")
    (account,) = admin(base_url, f"/_mock/accounts?api_key={KEY}")
    (entry,) = admin(base_url, "/_mock/requests")
    assert len(tasks) == 1
    assert tasks[0]["status"] == "pending"
    assert (account["reserved"], account["running"]) == (69.12, 1)
    assert (entry["status"], entry["scenario"]) == (200, "drop-after-create")


def test_the_reference_client_without_keys_raises_and_never_creates_a_second_task(
    served: tuple[str, Simulator],
) -> None:
    base_url, _ = served
    httpx.post(
        f"{base_url}/_mock/faults",
        json={"scenario": "drop-after-create", "times": 1},
        timeout=5,
    ).raise_for_status()

    # Without idempotency keys (the client's default retries under its key, and the simulator
    # answers that retry with this task: tests/client/test_client_cli.py)
    with (
        Client(KEY, base_url=base_url, idempotency_keys=False) as client,
        pytest.raises(APIConnectionError),
    ):
        client.create_video("a cat")  # a create of unknown outcome is not retried without a key

    creates = [e for e in admin(base_url, "/_mock/requests") if e["method"] == "POST"]
    assert len(creates) == 1
    assert len(admin(base_url, "/_mock/tasks")) == 1
    with Client(KEY, base_url=base_url, retry=NO_RETRY) as client:
        assert client.create_video("a cat").id  # the fault was used up: this one answers


@pytest.mark.anyio
async def test_in_process_the_answer_is_cut_mid_body_after_the_task_is_made(
    make_simulator: MakeSimulator,
) -> None:
    sim = make_simulator()
    async with api_for(sim, KEY) as api:
        # httpx's ASGI transport refuses an answer that never completes
        with pytest.raises(AssertionError):
            await api.post(
                "/v1/videos/generations",
                json=BODY,
                headers={"X-Mock-Scenario": "drop-after-create"},
            )
        tasks = await sim.tasks()

    assert len(tasks) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("callback:delay:0", "0 < SECONDS"),
        ("callback:delay:soon", "0 < SECONDS"),
        ("callback:twice", "callback:duplicate or callback:delay:SECONDS"),
    ],
)
async def test_a_malformed_callback_scenario_is_refused(
    api: httpx.AsyncClient, name: str, words: str
) -> None:
    response = await api.post("/_mock/faults", json={"scenario": name})

    assert response.status_code == 400
    assert words in response.json()["error"]["message"]


@pytest.mark.anyio
async def test_a_lost_answer_applies_to_creates_only(api: httpx.AsyncClient) -> None:
    task = (await api.post("/v1/videos/generations", json=BODY)).json()
    response = await api.get(
        f"/v1/tasks/{task['id']}", headers={"X-Mock-Scenario": "drop-after-create"}
    )

    assert response.status_code == 400
    assert "applies to creates only" in response.json()["error"]["message"]


@pytest.mark.anyio
async def test_callback_duplicate_sends_a_delivered_callback_again_with_the_same_webhook_id(
    tls: TLS, make_simulator: MakeSimulator
) -> None:
    with https_receiver(tls, [200, 200]) as receiver:
        sim = make_simulator(callback_settings([receiver], tls), resolver=FakeResolver())
        async with api_for(sim) as api:
            task = await create(api, receiver.url(), scenario="callback:duplicate")
            await advance(api, ENDS_AFTER + 10)
            (delivery,) = await deliveries(api, task["id"])

    assert len(receiver.requests) == 2
    assert [r.json()["id"] for r in receiver.requests] == [task["id"]] * 2
    assert [a["status_code"] for a in delivery["attempts"]] == [200, 200]
    assert delivery["outcome"] == "delivered"


@pytest.mark.anyio
async def test_callback_delay_sends_the_first_attempt_late(
    tls: TLS, make_simulator: MakeSimulator
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = make_simulator(callback_settings([receiver], tls), resolver=FakeResolver())
        async with api_for(sim) as api:
            task = await create(api, receiver.url(), scenario="callback:delay:30")
            await advance(api, ENDS_AFTER + 29)
            early = len(receiver.requests)
            await advance(api, 1)
            (delivery,) = await deliveries(api, task["id"])

    assert early == 0
    assert len(receiver.requests) == 1
    assert delivery["attempts"][0]["sent_at"] == START + ENDS_AFTER + 30


@pytest.mark.anyio
async def test_a_prompt_marker_and_a_key_profile_trigger_them_too(
    make_simulator: MakeSimulator,
) -> None:
    profiles = Profiles(keys={"sk-late": KeyProfile(scenario="callback:delay:60")})
    sim = make_simulator(
        Settings(timings=FAST, clock="virtual", profiles=profiles, prompt_markers=True)
    )
    async with api_for(sim, KEY) as api:
        marked = {**BODY, "prompt": "a cat [mock:callback:duplicate]"}
        await api.post("/v1/videos/generations", json=marked)
        late = {"Authorization": "Bearer sk-late"}
        await api.post("/v1/videos/generations", json=BODY, headers=late)
        journal = (await api.get("/_mock/requests")).json()
        tasks = await sim.tasks()

    assert [task.callback_scenario for task in tasks] == ["duplicate", "delay:60"]
    assert [entry["scenario"] for entry in journal] == ["callback:duplicate", "callback:delay:60"]
