"""Every documented failure on demand: through headers, admin faults, markers and key profiles."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import jsonschema_rs
import pytest

from mockserver import Settings, Simulator, create_app, load_spec
from mockserver.domain.gateway import gateway_statuses
from mockserver.domain.profiles import KeyProfile, Moderation, Profiles
from mockserver.domain.scenarios import TASK_FAILURES, catalogue, parse_scenario, unservable
from mockserver.domain.timing import FAST

from ..bodies import create_body
from ..conftest import MakeSimulator

pytestmark = pytest.mark.anyio

SPEC = load_spec()
KEY = "sk-scenario-tester"
VALID = create_body()
DOCUMENTED = [
    (operation_id, status)
    for operation_id, errors in SPEC.errors.items()
    for status in sorted(errors)
]


Serve = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Simulator]]]


@pytest.fixture
def serve(make_simulator: MakeSimulator) -> Serve:
    """`async with serve(profiles, **settings) as (api, sim)`: a simulator on the store under
    test, reached in-process, authenticated as KEY."""

    @asynccontextmanager
    async def serving(
        profiles: Profiles | None = None, **settings: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, Simulator]]:
        sim = make_simulator(
            Settings(
                timings=FAST,
                clock="virtual",
                start_time=1_800_000_000,
                profiles=profiles or Profiles(),
                **settings,
            )
        )
        transport = httpx.ASGITransport(create_app(simulator=sim))
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://mock.test", headers=headers
        ) as api:
            yield api, sim

    return serving


def example(operation_id: str, status: int) -> object:
    return SPEC.operation(operation_id)["responses"][str(status)]["content"]["application/json"][
        "example"
    ]


async def call(
    api: httpx.AsyncClient, operation_id: str, task_id: str, **headers: str
) -> httpx.Response:
    if operation_id == "createVideoGeneration":
        return await api.post("/v1/videos/generations", json=VALID, headers=headers)
    if operation_id == "getCredits":
        return await api.get("/v1/credits", headers=headers)
    if operation_id == "listTasks":
        return await api.get("/v1/tasks", headers=headers)
    if operation_id == "getTasksBatch":
        return await api.post("/v1/tasks/batch", json={"task_ids": [task_id]}, headers=headers)
    if operation_id == "listModels":
        return await api.get("/v1/models", headers=headers)
    return await api.get(f"/v1/tasks/{task_id}", headers=headers)


async def existing_task(api: httpx.AsyncClient) -> str:
    """A real, readable task, so that a query's error can only come from the scenario."""
    response = await api.post("/v1/videos/generations", json=VALID)
    assert response.status_code == 200
    task_id: str = response.json()["id"]
    return task_id


@pytest.mark.parametrize(
    ("operation_id", "status"), DOCUMENTED, ids=[f"{o}-{s}" for o, s in DOCUMENTED]
)
async def test_every_documented_error_through_the_header(
    operation_id: str, status: int, serve: Serve
) -> None:
    code = SPEC.errors[operation_id][status].code
    async with serve() as (api, _):
        task_id = await existing_task(api)

        response = await call(api, operation_id, task_id, **{"X-Mock-Scenario": code})

    assert response.status_code == status
    assert response.json() == example(operation_id, status)


@pytest.mark.parametrize(
    ("operation_id", "status"), DOCUMENTED, ids=[f"{o}-{s}" for o, s in DOCUMENTED]
)
async def test_every_documented_error_through_an_admin_fault(
    operation_id: str, status: int, serve: Serve
) -> None:
    code = SPEC.errors[operation_id][status].code
    async with serve() as (api, _):
        task_id = await existing_task(api)
        fault = {"scenario": code, "match": {"operation": operation_id, "api_key": KEY}, "times": 1}
        assert (await api.post("/_mock/faults", json=fault)).status_code == 201

        response = await call(api, operation_id, task_id)
        after = await call(api, operation_id, task_id)

    assert response.status_code == status
    assert response.json() == example(operation_id, status)
    assert after.status_code == 200  # used up


@pytest.mark.parametrize(
    ("operation_id", "status"), DOCUMENTED, ids=[f"{o}-{s}" for o, s in DOCUMENTED]
)
async def test_every_documented_error_through_prisms_prefer_header(
    operation_id: str, status: int, serve: Serve
) -> None:
    async with serve() as (api, _):
        task_id = await existing_task(api)

        response = await call(api, operation_id, task_id, Prefer=f"code={status}")

    assert response.status_code == status
    assert response.json() == example(operation_id, status)


async def test_a_status_the_operation_does_not_document_is_refused_not_invented(
    serve: Serve,
) -> None:
    async with serve() as (api, _):
        response = await call(
            api, "createVideoGeneration", "", **{"X-Mock-Scenario": "task_not_found"}
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "X-Mock-Scenario"
    assert "not an answer createVideoGeneration can give" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("trigger", "status", "code", "kind"),
    [
        ("http:413", 413, "request_too_large", "request_too_large_error"),
        ("http:502", 502, "upstream_error", "upstream_error"),
        ("http:503", 503, "service_unavailable", "service_unavailable_error"),
        ("upstream_error", 502, "upstream_error", "upstream_error"),
    ],
)
async def test_the_gateways_errors_answer_in_the_envelope_with_the_vendors_types(
    serve: Serve, trigger: str, status: int, code: str, kind: str
) -> None:
    async with serve() as (api, sim):
        response = await call(api, "createVideoGeneration", "", **{"X-Mock-Scenario": trigger})
        tasks = await sim.store.count_tasks()

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["type"] == kind
    assert response.headers.get("retry-after") == ("30" if status == 503 else None)
    assert tasks == 0


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"scenario": "http:418"}, "a status the API answers"),
        ({"scenario": "http:404"}, "give match.operation to narrow it"),
        (
            {"scenario": "http:413", "match": {"operation": "getTaskDetail"}},
            "not an answer getTaskDetail can give",
        ),
        (
            {"scenario": "fail:service_error", "match": {"operation": "getTaskDetail"}},
            "applies to creates only",
        ),
    ],
)
async def test_a_fault_the_mock_cannot_serve_is_refused_when_given(
    serve: Serve, fault: dict[str, object], words: str
) -> None:
    async with serve() as (api, _):
        response = await api.post("/_mock/faults", json=fault)
        listed = (await api.get("/_mock/faults")).json()

    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert listed == []


async def test_a_task_failure_fault_without_an_operation_shapes_creates_only(serve: Serve) -> None:
    async with serve() as (api, _):
        task_id = await existing_task(api)
        added = await api.post("/_mock/faults", json={"scenario": "fail:service_error"})
        queried = await api.get(f"/v1/tasks/{task_id}")
        created = await api.post("/v1/videos/generations", json=VALID)
        await api.post("/_mock/clock/advance", json={"seconds": 3600})
        failed = await api.get(f"/v1/tasks/{created.json()['id']}")

    assert added.status_code == 201
    assert added.json()["match"]["operation"] == "createVideoGeneration"
    assert queried.status_code == 200
    assert failed.json()["error"]["code"] == "service_error"


@pytest.mark.parametrize(
    "name",
    [
        "nonsense",
        "fail:exploded",
        "fail:service_error@100",
        "latency:slow",
        "latency:9-1",
        "http:abc",
    ],
)
async def test_an_unknown_scenario_is_a_400_saying_so(name: str, serve: Serve) -> None:
    async with serve() as (api, sim):
        response = await call(api, "createVideoGeneration", "", **{"X-Mock-Scenario": name})

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "X-Mock-Scenario"
        assert await sim.store.count_tasks() == 0


TASK_ERROR = SPEC.document["components"]["schemas"]["TaskDetailResponse"]
DETAIL = jsonschema_rs.Draft202012Validator(
    {**TASK_ERROR, "components": SPEC.document["components"]}, validate_formats=True
)


@pytest.mark.parametrize("code", list(TASK_FAILURES))
async def test_every_task_failure_code_ends_the_task_failed_as_documented(
    code: str, serve: Serve
) -> None:
    message, at_progress = TASK_FAILURES[code]
    async with serve() as (api, _):
        created = (
            await api.post(
                "/v1/videos/generations", json=VALID, headers={"X-Mock-Scenario": f"fail:{code}"}
            )
        ).json()
        seen = []
        for _ in range(60):
            task = (await api.get(f"/v1/tasks/{created['id']}")).json()
            DETAIL.validate(task)
            seen.append((task["status"], task["progress"]))
            if task["status"] == "failed":
                break
            await api.post("/_mock/clock/advance", json={"seconds": 1})

    assert task["error"] == {"code": code, "message": message, "type": "task_error"}
    assert task["progress"] == at_progress
    assert "results" not in task
    statuses = [s for s, _ in seen]
    expected = ["pending"] * 5 + (["processing"] if at_progress else []) + ["failed"]
    assert sorted(set(statuses), key=statuses.index) == sorted(set(expected), key=expected.index)
    assert [p for _, p in seen] == sorted(p for _, p in seen)
    assert max(p for _, p in seen) == at_progress


async def test_a_failure_stage_is_chosen_with_at(serve: Serve) -> None:
    async with serve() as (api, _):
        created = (
            await api.post(
                "/v1/videos/generations",
                json=VALID,
                headers={"X-Mock-Scenario": "fail:service_error@75"},
            )
        ).json()
        await api.post(
            "/_mock/clock/advance", json={"seconds": 5 + 30 - 0.5}
        )  # 74% of 40 s is 29.6 s
        before = (await api.get(f"/v1/tasks/{created['id']}")).json()
        await api.post("/_mock/clock/advance", json={"seconds": 0.5})
        after = (await api.get(f"/v1/tasks/{created['id']}")).json()

    assert (before["status"], before["progress"]) == ("processing", 73)
    assert (after["status"], after["progress"], after["error"]["code"]) == (
        "failed",
        75,
        "service_error",
    )


async def test_token_bucket_rate_2_burst_2(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(rate=2, burst=2)})
    async with serve(profiles) as (api, _):
        statuses = [
            (await api.post("/v1/videos/generations", json=VALID)).status_code for _ in range(3)
        ]
        await api.post("/_mock/clock/advance", json={"seconds": 0.5})
        statuses.append((await api.post("/v1/videos/generations", json=VALID)).status_code)
        limited = (await api.post("/v1/videos/generations", json=VALID)).json()

    assert statuses == [200, 200, 429, 200]
    assert limited == example("createVideoGeneration", 429)


async def test_queries_draw_from_the_same_bucket_and_answer_their_own_429(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(rate=1, burst=1)})
    async with serve(profiles) as (api, _):
        task_id = (await api.post("/v1/videos/generations", json=VALID)).json()["id"]
        response = await api.get(f"/v1/tasks/{task_id}")

    assert response.status_code == 429
    assert response.json() == example("getTaskDetail", 429)


async def test_credits_fall_by_the_formula_and_402_comes_exactly_when_they_run_out(
    serve: Serve,
) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(credits=300)})  # 4 s at 720p costs 69.12
    async with serve(profiles) as (api, _):
        statuses = [
            (await api.post("/v1/videos/generations", json=VALID)).status_code for _ in range(5)
        ]
        (reserved,) = (await api.get("/_mock/accounts", params={"api_key": KEY})).json()
        refused = await api.post("/v1/videos/generations", json=VALID)
        await api.post("/_mock/clock/advance", json={"seconds": 45})
        (charged,) = (await api.get("/_mock/accounts", params={"api_key": KEY})).json()

    assert statuses == [200, 200, 200, 200, 402]
    assert refused.json() == example("createVideoGeneration", 402)
    assert (reserved["reserved"], reserved["used"], reserved["remaining"]) == (276.48, 0.0, 23.52)
    assert (charged["reserved"], charged["used"], charged["remaining"]) == (0.0, 276.48, 23.52)


async def test_a_failed_task_releases_its_credits(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(credits=100)})
    async with serve(profiles) as (api, _):
        await api.post(
            "/v1/videos/generations", json=VALID, headers={"X-Mock-Scenario": "fail:service_error"}
        )
        during = (await api.post("/v1/videos/generations", json=VALID)).status_code
        await api.post("/_mock/clock/advance", json={"seconds": 60})
        (account,) = (await api.get("/_mock/accounts", params={"api_key": KEY})).json()
        after = (await api.post("/v1/videos/generations", json=VALID)).status_code

    assert during == 402  # 69.12 reserved of 100: another 69.12 does not fit
    assert (account["used"], account["remaining"]) == (0.0, 100.0)
    assert after == 200


async def test_1080p_costs_the_published_1_6667_times_as_much(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(credits=1000)})
    async with serve(profiles) as (api, _):
        await api.post("/v1/videos/generations", json={**VALID, "quality": "1080p", "duration": 12})
        (account,) = (await api.get("/_mock/accounts", params={"api_key": KEY})).json()

    assert account["reserved"] == 345.66912  # 207.36 at 720p


async def test_a_fault_with_times_2_fails_exactly_twice(serve: Serve) -> None:
    async with serve() as (api, _):
        task_id = await existing_task(api)
        await api.post(
            "/_mock/faults",
            json={
                "scenario": "internal_error",
                "match": {"operation": "query", "api_key": KEY},
                "times": 2,
            },
        )
        statuses = [(await api.get(f"/v1/tasks/{task_id}")).status_code for _ in range(4)]
        faults = (await api.get("/_mock/faults")).json()

    assert statuses == [500, 500, 200, 200]
    assert faults == []


async def test_a_fault_for_another_key_leaves_this_one_alone(serve: Serve) -> None:
    async with serve() as (api, _):
        await api.post(
            "/_mock/faults",
            json={"scenario": "internal_error", "match": {"api_key": "sk-someone-else"}},
        )
        response = await api.post("/v1/videos/generations", json=VALID)

    assert response.status_code == 200


async def test_the_most_specific_trigger_wins(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(scenario="internal_error")})
    async with serve(profiles, prompt_markers=True) as (api, _):
        await api.post(
            "/_mock/faults",
            json={"scenario": "rate_limit_exceeded", "match": {"operation": "create"}, "times": 1},
        )
        await api.post(
            "/_mock/faults",
            json={
                "scenario": "insufficient_quota",
                "match": {"operation": "create", "api_key": KEY},
                "times": 1,
            },
        )
        marked = {**VALID, "prompt": "a cat [mock:model_access_denied]"}
        header = {"X-Mock-Scenario": "unauthorized"}
        statuses = [
            (
                await api.post("/v1/videos/generations", json=marked, headers=header)
            ).status_code,  # key+op fault
            (
                await api.post("/v1/videos/generations", json=marked, headers=header)
            ).status_code,  # op fault
            (
                await api.post("/v1/videos/generations", json=marked, headers=header)
            ).status_code,  # header
            (await api.post("/v1/videos/generations", json=marked)).status_code,  # prompt marker
            (await api.post("/v1/videos/generations", json=VALID)).status_code,  # key default
        ]

    assert statuses == [402, 429, 401, 403, 500]


async def test_prompt_markers_are_ignored_unless_enabled(serve: Serve) -> None:
    marked = {**VALID, "prompt": "a cat [mock:fail:content_policy_violation]"}
    async with serve() as (api, _):
        plain = (await api.post("/v1/videos/generations", json=marked)).json()
        await api.post("/_mock/clock/advance", json={"seconds": 45})
        plain = (await api.get(f"/v1/tasks/{plain['id']}")).json()
    async with serve(prompt_markers=True) as (api, _):
        marked_task = (await api.post("/v1/videos/generations", json=marked)).json()
        await api.post("/_mock/clock/advance", json={"seconds": 45})
        marked_task = (await api.get(f"/v1/tasks/{marked_task['id']}")).json()

    assert plain["status"] == "completed"
    assert (marked_task["status"], marked_task["error"]["code"]) == (
        "failed",
        "content_policy_violation",
    )


async def test_a_keys_default_failure_shapes_its_creates_and_not_its_queries(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(scenario="fail:generation_timeout")})
    async with serve(profiles) as (api, _):
        task_id = await existing_task(api)
        await api.post("/_mock/clock/advance", json={"seconds": 45})
        task = (await api.get(f"/v1/tasks/{task_id}")).json()

    assert (task["status"], task["error"]["code"]) == ("failed", "generation_timeout")


async def test_concurrency_cap_refuses_a_create_until_a_task_ends(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(max_concurrent=1)})
    async with serve(profiles) as (api, _):
        first = (await api.post("/v1/videos/generations", json=VALID)).status_code
        second = await api.post("/v1/videos/generations", json=VALID)
        await api.post("/_mock/clock/advance", json={"seconds": 45})
        third = (await api.post("/v1/videos/generations", json=VALID)).status_code

    assert (first, second.status_code, third) == (200, 429, 200)
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert "at most 1" in second.json()["error"]["message"]


async def test_a_key_without_the_model_gets_the_documented_403(serve: Serve) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(models=())})
    async with serve(profiles) as (api, sim):
        response = await api.post("/v1/videos/generations", json=VALID)

        assert await sim.store.count_tasks() == 0
    assert response.status_code == 403
    assert response.json() == example("createVideoGeneration", 403)


BLOCKED = "Content policy violation.\nYour request was blocked by safety filters: "


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {**VALID, "prompt": "A NUDE statue in a park"},
            BLOCKED + "nudity detected in the prompt.",
        ),
        (
            {**VALID, "prompt": "gore and more"},
            BLOCKED + "violence content blocked in the prompt.",
        ),
        (
            {**VALID, "prompt": "a celebrity on a red carpet"},
            BLOCKED + "celebrity likeness detected in the prompt.",
        ),
        (
            {**VALID, "image_urls": ["https://img.test/people/anna.png"]},
            BLOCKED + "photorealistic people detected in image.",
        ),
    ],
    ids=["blocked-term", "another-term", "celebrity-in-a-prompt", "image-of-people"],
)
async def test_moderation_fails_the_task_with_content_policy_violation(
    body: dict[str, object], message: str, serve: Serve
) -> None:
    profiles = Profiles(moderation=Moderation(people_images=("*/people/*",)))
    async with serve(profiles) as (api, _):
        created = (await api.post("/v1/videos/generations", json=body)).json()
        await api.post("/_mock/clock/advance", json={"seconds": 5})
        task = (await api.get(f"/v1/tasks/{created['id']}")).json()

    assert task["status"] == "failed"
    assert task["error"] == {
        "code": "content_policy_violation",
        "message": message,
        "type": "task_error",
    }


async def test_a_word_containing_a_blocked_term_passes_moderation(serve: Serve) -> None:
    async with serve() as (api, _):
        created = (
            await api.post("/v1/videos/generations", json={**VALID, "prompt": "a gorgeous sunset"})
        ).json()
        await api.post("/_mock/clock/advance", json={"seconds": 45})
        task = (await api.get(f"/v1/tasks/{created['id']}")).json()

    assert task["status"] == "completed"


async def test_latency_delays_the_answer_in_real_time(serve: Serve) -> None:
    async with serve() as (api, _):
        started = time.monotonic()
        response = await api.post(
            "/v1/videos/generations", json=VALID, headers={"X-Mock-Scenario": "latency:120"}
        )
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.12


async def test_the_journal_records_requests_with_keys_redacted_and_reset_clears_everything(
    serve: Serve,
) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(credits=100)})
    async with serve(profiles) as (api, sim):
        task_id = await existing_task(api)
        await api.get(f"/v1/tasks/{task_id}", headers={"X-Mock-Scenario": "internal_error"})
        await api.post("/_mock/faults", json={"scenario": "internal_error"})
        entries = (await api.get("/_mock/requests")).json()

        assert (await api.post("/_mock/reset")).status_code == 200

        after = {
            "tasks": await sim.store.count_tasks(),
            "faults": (await api.get("/_mock/faults")).json(),
            "journal": (await api.get("/_mock/requests")).json(),
            "accounts": (await api.get("/_mock/accounts")).json(),
        }
        fresh = await api.post("/v1/videos/generations", json=VALID)

    assert [(e["method"], e["status"], e["scenario"]) for e in entries] == [
        ("POST", 200, None),
        ("GET", 500, "internal_error"),
    ]
    assert {e["api_key"] for e in entries} == {"sk-sce..."}
    assert all(KEY not in str(e) for e in entries)
    assert after == {"tasks": 0, "faults": [], "journal": [], "accounts": []}
    assert fresh.status_code == 200  # credits back to the configured 100


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "scenario"),
        ({"scenario": "nonsense"}, "scenario"),
        ({"scenario": "internal_error", "match": {"operation": "delete"}}, "match.operation"),
        ({"scenario": "internal_error", "match": {"colour": "red"}}, "match"),
        ({"scenario": "internal_error", "times": 0}, "times"),
        ({"scenario": "internal_error", "times": True}, "times"),
        ({"scenario": "internal_error", "match": {"api_key": 5}}, "match.api_key"),
    ],
    ids=[
        "no-scenario",
        "unknown-scenario",
        "unknown-operation",
        "unknown-match",
        "times-zero",
        "times-bool",
        "key-not-string",
    ],
)
async def test_a_bad_fault_is_a_400_and_nothing_is_added(
    body: dict[str, object], param: str, serve: Serve
) -> None:
    async with serve() as (api, _):
        response = await api.post("/_mock/faults", json=body)
        listed = (await api.get("/_mock/faults")).json()

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert listed == []


async def test_faults_are_listed_and_deleted_one_by_one_or_all(serve: Serve) -> None:
    async with serve() as (api, _):
        one = (
            await api.post("/_mock/faults", json={"scenario": "internal_error", "times": 3})
        ).json()
        two = (await api.post("/_mock/faults", json={"scenario": "drop"})).json()
        listed = (await api.get("/_mock/faults")).json()
        deleted = await api.delete(f"/_mock/faults/{one['id']}")
        missing = await api.delete(f"/_mock/faults/{one['id']}")
        left = (await api.get("/_mock/faults")).json()
        await api.delete("/_mock/faults")
        empty = (await api.get("/_mock/faults")).json()

    assert [f["id"] for f in listed] == [one["id"], two["id"]]
    assert one["remaining"] == 3
    assert two["remaining"] is None
    assert (deleted.status_code, missing.status_code) == (200, 404)
    assert [f["id"] for f in left] == [two["id"]]
    assert empty == []


#: the triggers whose answer completes (a cut connection is tested over a socket)
CATALOGUE_TRIGGERS = [
    e.trigger for e in catalogue(SPEC) if e.trigger not in ("drop", "drop-after-create")
]


def response_schema(operation_id: str, status: int) -> jsonschema_rs.Validator:
    content = SPEC.operation(operation_id)["responses"][str(status)]["content"]["application/json"]
    return jsonschema_rs.Draft202012Validator(
        {**content["schema"], "components": SPEC.document["components"]}, validate_formats=True
    )


@pytest.mark.parametrize("operation_id", [op for op in SPEC.errors if op not in SPEC.public])
@pytest.mark.parametrize("trigger", CATALOGUE_TRIGGERS)
async def test_no_scenario_yields_an_undocumented_status_or_body(
    operation_id: str, trigger: str, serve: Serve
) -> None:
    async with serve() as (api, _):
        task_id = await existing_task(api)

        response = await call(
            api, operation_id, task_id, **{"X-Mock-Scenario": trigger.replace("200-800", "1")}
        )

    if unservable(parse_scenario(trigger, SPEC), operation_id, SPEC):  # refused, saying why
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "X-Mock-Scenario"
        return
    documented = {int(s) for s in SPEC.operation(operation_id)["responses"]}
    gateway = gateway_statuses(operation_id)  # documented on the vendor's sibling pages
    assert response.status_code in documented | gateway
    status = 500 if response.status_code in gateway else response.status_code  # one envelope
    response_schema(operation_id, status).validate(response.json())
