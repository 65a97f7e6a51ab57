"""A task's life on the virtual clock, observed over HTTP at exact times."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from mockserver import Settings, Simulator

from ..bodies import create_body
from ..callback_fixtures import api_for
from ..conftest import KEY, START, MakeSimulator
from ..mp4probe import probe

pytestmark = pytest.mark.anyio

VALID = create_body()


async def advance(api: httpx.AsyncClient, seconds: float) -> float:
    response = await api.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200
    now: float = response.json()["now"]
    return now


@pytest.mark.parametrize(
    ("duration", "quality", "processing"),
    [(4, "720p", 40), (8, "1080p", 120), (12, "720p", 120)],
    ids=["4s-720p", "8s-1080p", "12s-720p"],
)
async def test_status_and_progress_at_every_second_of_the_plan(
    api: httpx.AsyncClient, duration: int, quality: str, processing: int
) -> None:
    """Pending for the 5 s queue, then processing with progress floor(100 * elapsed / span)
    (capped at 99), then completed at 100 exactly when `estimated_time` said."""
    created = (
        await api.post(
            "/v1/videos/generations", json={**VALID, "duration": duration, "quality": quality}
        )
    ).json()
    queue = 5
    assert created["task_info"]["estimated_time"] == queue + processing

    seen = []
    for second in range(queue + processing + 3):
        task = (await api.get(f"/v1/tasks/{created['id']}")).json()
        seen.append((task["status"], task["progress"]))
        if second < queue:
            expected = ("pending", 0)
        elif second < queue + processing:
            expected = ("processing", min(99, math.floor(100 * (second - queue) / processing)))
        else:
            expected = ("completed", 100)
        assert (second, task["status"], task["progress"]) == (second, *expected)
        assert ("results" in task) == (task["status"] == "completed")
        assert task["task_info"]["can_cancel"] == (task["status"] != "completed")
        await advance(api, 1)

    statuses = [s for s, _ in seen]
    assert statuses.index("processing") == queue
    assert statuses.index("completed") == queue + processing
    assert [p for _, p in seen] == sorted(p for _, p in seen)


async def test_a_completed_task_never_changes_until_it_expires_24h_after_it_ended(
    api: httpx.AsyncClient,
) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 45)  # the fast plan ends here
    first = (await api.get(f"/v1/tasks/{created['id']}")).json()

    await advance(api, 24 * 3600 - 1)
    later = (await api.get(f"/v1/tasks/{created['id']}")).json()
    await advance(api, 2)  # 24 h + 1 s after completion
    expired = await api.get(f"/v1/tasks/{created['id']}")

    assert first["status"] == "completed"
    assert later == first
    assert expired.status_code == 404
    assert expired.json()["error"]["code"] == "task_not_found"


async def test_a_failed_task_expires_too(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/v1/videos/generations", json=VALID, headers={"X-Mock-Scenario": "fail:service_error"}
    )
    await advance(api, 24 * 3600 + 60)
    expired = await api.get(f"/v1/tasks/{created.json()['id']}")

    assert expired.status_code == 404


@pytest.mark.parametrize(
    ("aspect_ratio", "quality", "duration", "size"),
    [
        ("16:9", "720p", 4, (1280, 720)),
        ("9:16", "720p", 8, (720, 1280)),
        ("16:9", "1080p", 12, (1792, 1024)),
        ("9:16", "1080p", 8, (1024, 1792)),
    ],
    ids=["16x9-720p", "9x16-720p", "16x9-1080p", "9x16-1080p"],
)
async def test_the_result_is_an_mp4_of_the_requested_size_and_length(
    api: httpx.AsyncClient, aspect_ratio: str, quality: str, duration: int, size: tuple[int, int]
) -> None:
    body = {**VALID, "aspect_ratio": aspect_ratio, "quality": quality, "duration": duration}
    created = (await api.post("/v1/videos/generations", json=body)).json()
    await advance(api, created["task_info"]["estimated_time"])
    task = (await api.get(f"/v1/tasks/{created['id']}")).json()

    video = await api.get(task["results"][0])

    assert task["results"][0].startswith("http://mock.test/")
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    info = probe(video.content)
    assert (info.width, info.height) == size
    assert info.duration == pytest.approx(duration, abs=0.05)


async def test_the_result_link_stops_working_24h_after_completion(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 45)
    url = (await api.get(f"/v1/tasks/{created['id']}")).json()["results"][0]

    await advance(api, 24 * 3600 - 1)
    last_second = await api.get(url)
    await advance(api, 1)
    expired = await api.get(url)

    assert last_second.status_code == 200
    assert expired.status_code == 404
    assert "expired" in expired.json()["error"]["message"]


async def test_no_video_before_completion(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 44)

    response = await api.get(f"/_mock/videos/{created['id']}.mp4")

    assert response.status_code == 404


async def test_the_clock_reads_and_advances(api: httpx.AsyncClient, sim: Simulator) -> None:
    before = (await api.get("/_mock/clock")).json()
    after = await advance(api, 2.5)

    assert before["kind"] == "virtual"
    assert after == before["now"] + 2.5 == sim.now()


@pytest.mark.parametrize(
    "body",
    [{"seconds": -1}, {"seconds": "5"}, {"seconds": True}, {}, [], {"seconds": 1e12}],
    ids=["negative", "string", "bool", "missing", "array", "absurd"],
)
async def test_a_bad_advance_is_a_400_and_time_stands(
    api: httpx.AsyncClient, sim: Simulator, body: object
) -> None:
    before = sim.now()

    response = await api.post("/_mock/clock/advance", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "seconds"
    assert sim.now() == before


async def test_health_answers_when_ready(api: httpx.AsyncClient) -> None:
    response = await api.get("/_mock/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_end_listeners_hear_each_task_end_once_at_its_end(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    heard: list[tuple[str, float]] = []
    await sim.on_task_end(lambda task, when: heard.append((task.id, when)))
    created = (await api.post("/v1/videos/generations", json=VALID)).json()

    await advance(api, 44)
    assert heard == []
    await advance(api, 1)
    await advance(api, 100)

    assert heard == [(created["id"], created["created"] + 45)]


async def test_a_listener_added_later_hears_the_tasks_still_running(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    """Tasks without a callback get no end event until something listens for one."""
    ended = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 30)
    running = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 20)  # the first has ended, unheard: nothing listened then
    heard: list[tuple[str, float]] = []

    await sim.on_task_end(lambda task, when: heard.append((task.id, when)))
    later = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 100)

    assert ended["id"] not in [task_id for task_id, _ in heard]
    assert heard == [
        (running["id"], running["created"] + 45),
        (later["id"], later["created"] + 45),
    ]


async def admin_task(api: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    """The task as `/_mock/tasks` lists it: its simulated `created` and `ends_at`."""
    listing: list[dict[str, Any]] = (await api.get("/_mock/tasks")).json()
    return next(task for task in listing if task["id"] == task_id)


async def test_an_ended_task_says_what_it_was_charged_and_how_long_it_took(
    api: httpx.AsyncClient,
) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()  # 4 s at 720p
    await advance(api, 44)
    running = (await api.get(f"/v1/tasks/{created['id']}")).json()
    await advance(api, 1)
    ended = (await api.get(f"/v1/tasks/{created['id']}")).json()
    listed = await admin_task(api, created["id"])
    (account,) = (await api.get("/_mock/accounts")).json()

    assert created["usage"]["credits_reserved"] == 69.12
    assert "credits_used" not in created["usage"]
    assert "duration" not in created
    assert running["status"] == "processing"
    assert "credits_used" not in running["usage"]
    assert "duration" not in running
    assert ended["status"] == "completed"
    assert ended["usage"]["credits_used"] == 69.12 == account["used"]  # what completion charged
    assert ended["duration"] == 45 == listed["ends_at"] - listed["created"]
    assert ended["duration"] == created["task_info"]["estimated_time"]


@pytest.mark.parametrize(
    ("scenario", "ends_after"),
    [("fail:service_error", 17), ("fail:content_policy_violation", 5)],
    ids=["at-30-percent", "before-processing"],
)
async def test_a_failed_task_was_charged_nothing_and_took_until_it_failed(
    api: httpx.AsyncClient, scenario: str, ends_after: int
) -> None:
    created = (
        await api.post("/v1/videos/generations", json=VALID, headers={"X-Mock-Scenario": scenario})
    ).json()
    await advance(api, 3600)
    failed = (await api.get(f"/v1/tasks/{created['id']}")).json()
    listed = await admin_task(api, created["id"])
    (account,) = (await api.get("/_mock/accounts")).json()

    assert failed["status"] == "failed"
    assert failed["usage"] == {**created["usage"], "credits_used": 0}
    assert account["used"] == 0
    # 5 s queued, then 40 s of processing: 30 % of it is 12 s
    assert failed["duration"] == ends_after == listed["ends_at"] - listed["created"]


async def test_a_cancelled_task_was_charged_nothing_and_took_until_the_cancel(
    api: httpx.AsyncClient,
) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()
    await advance(api, 25.5)
    cancelled = (await api.post(f"/_mock/tasks/{created['id']}/cancel")).json()
    await advance(api, 3600)
    later = (await api.get(f"/v1/tasks/{created['id']}")).json()

    assert (cancelled["status"], cancelled["error"]["code"]) == ("failed", "request_cancelled")
    assert cancelled["usage"]["credits_used"] == 0
    assert cancelled["duration"] == 26  # 25.5 s, in whole seconds rounded up
    assert later == cancelled


async def test_a_drawn_plan_takes_its_whole_seconds_from_create_to_end(
    make_simulator: MakeSimulator,
) -> None:
    """On the vendor's timing profile a plan's end falls between seconds: `duration` is the
    time from the create to it, rounded up to a whole second."""
    sim = make_simulator(Settings(clock="virtual", start_time=START, seed=7))
    async with api_for(sim, KEY) as api:
        ids = [
            (await api.post("/v1/videos/generations", json=VALID)).json()["id"] for _ in range(5)
        ]
        await advance(api, 24 * 3600 - 1)
        ended = [(await api.get(f"/v1/tasks/{task_id}")).json() for task_id in ids]
        listed = [await admin_task(api, task_id) for task_id in ids]

    for task, admin in zip(ended, listed, strict=True):
        assert task["status"] in ("completed", "failed")
        assert task["duration"] == math.ceil(admin["ends_at"] - admin["created"])
        assert task["usage"]["credits_used"] == (69.12 if task["status"] == "completed" else 0)
