"""`GET /_mock/metrics`: the Prometheus text format, read back with the Prometheus client's own
parser, agrees with the journal, the task list and the callback log after a scripted run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mockserver import Settings, Simulator, create_app

from .. import callback_fixtures as cb
from ..bodies import create_body

pytestmark = pytest.mark.anyio

OPERATIONS = {"POST": "createVideoGeneration", "GET": "getTaskDetail"}


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> (labels, value) of every sample, as Prometheus' parser reads them."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_a_scripted_run_matches_the_journal_tasks_and_callbacks(tmp_path: Path) -> None:
    tls = cb.make_tls(tmp_path)
    with cb.https_receiver(tls, [500, 200]) as flaky, cb.https_receiver(tls, [200]) as ok:
        sim = Simulator(cb.callback_settings([flaky, ok], tls))
        async with cb.api_for(sim) as api:
            retried = await cb.create(api, flaky.url("/hook"))
            await cb.create(api, ok.url("/hook"))
            await cb.create(api, None, duration=12)
            failing = await api.post(
                "/v1/videos/generations",
                json=create_body(prompt="x"),
                headers={"X-Mock-Scenario": "insufficient_quota"},
            )
            assert failing.status_code == 402
            assert (await api.get(f"/v1/tasks/{retried['id']}")).status_code == 200
            assert (await api.get("/v1/tasks/task-unified-1-nope")).status_code == 404
            assert (await api.get("/v1/tasks/bad")).status_code == 400
            bad_key = await api.get(
                f"/v1/tasks/{retried['id']}", headers={"Authorization": "Bearer nope"}
            )
            assert bad_key.status_code == 401
            assert (await api.get("/v1/no-such-route")).status_code == 404
            await cb.advance(
                api, 50
            )  # two tasks end; the flaky receiver fails once, then its retry

            response = await api.get("/_mock/metrics")
            journal = (await api.get("/_mock/requests")).json()
            tasks = (await api.get("/_mock/tasks")).json()
            log = await cb.deliveries(api)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    counted = {
        (labels["operation"], int(labels["status"])): value
        for labels, value in found["evolink_mock_requests_total"]
    }
    expected = Counter(
        (
            OPERATIONS[e["method"]]
            if e["path"].startswith(("/v1/videos", "/v1/tasks"))
            else "none",
            e["status"],
        )
        for e in journal
    )
    assert counted == expected
    assert sum(counted.values()) == len(journal) == 9

    by_status = {
        labels["status"]: value
        for labels, value in found["evolink_mock_tasks"]
        if labels["model"] == "sora-2-pro-preview"
    }
    assert {labels["model"] for labels, _ in found["evolink_mock_tasks"]} == {
        "sora-2-pro-preview",
        "sora-2-preview",
    }
    assert (
        by_status
        == {
            "pending": 0,
            "processing": 1,
            "completed": 2,
            "failed": 0,
        }
        == {s: sum(t["status"] == s for t in tasks) for s in by_status}
    )

    attempts = {
        labels["outcome"]: value for labels, value in found["evolink_mock_callback_attempts_total"]
    }
    statuses = [a["status_code"] for d in log for a in d["attempts"]]
    assert attempts == {"http_error": 1, "success": 2}
    assert sorted(statuses) == [200, 200, 500]

    # every vendor answer was timed: the histogram's count per operation is its answers
    count = {
        labels["operation"]: value
        for labels, value in found["evolink_mock_request_duration_seconds_count"]
    }
    assert count == {"createVideoGeneration": 4, "getTaskDetail": 4}
    buckets = [
        (labels["le"], value)
        for labels, value in found["evolink_mock_request_duration_seconds_bucket"]
        if labels["operation"] == "getTaskDetail"
    ]
    assert buckets[-1] == ("+Inf", 4)
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative


async def test_each_app_keeps_its_own_registry() -> None:
    first, second = (create_app(Settings(clock="virtual", start_time=cb.START)) for _ in range(2))
    headers = {"Authorization": f"Bearer {cb.KEY}"}
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(first), base_url="http://a", headers=headers
        ) as a,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(second), base_url="http://b", headers=headers
        ) as b,
    ):
        await a.get("/v1/tasks/task-unified-1-nope")
        seen_a = samples((await a.get("/_mock/metrics")).text)
        seen_b = samples((await b.get("/_mock/metrics")).text)
    assert seen_a["evolink_mock_requests_total"] == [
        ({"operation": "getTaskDetail", "status": "404"}, 1.0)
    ]
    assert seen_b.get("evolink_mock_requests_total", []) == []


async def test_with_metrics_off_the_route_is_a_404_envelope() -> None:
    app = create_app(Settings(clock="virtual", metrics=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://m") as api:
        response = await api.get("/_mock/metrics")
    assert response.status_code == 404
    assert "off" in response.json()["error"]["message"]


async def test_the_tasks_gauge_counts_each_model_apart() -> None:
    sim = Simulator(Settings(clock="virtual"))
    async with cb.api_for(sim) as api:
        for model, duration in [
            ("sora-2-preview", 8),
            ("sora-2-preview", 4),
            ("sora-2-pro-preview", 4),
        ]:
            body = create_body(model=model, duration=duration)
            assert (await api.post("/v1/videos/generations", json=body)).status_code == 200
        found = samples((await api.get("/_mock/metrics")).text)

    pending = {
        labels["model"]: value
        for labels, value in found["evolink_mock_tasks"]
        if labels["status"] == "pending"
    }
    assert pending == {"sora-2-preview": 2, "sora-2-pro-preview": 1}
