"""Headers the vendor's newer client reads: `X-Request-Id` on every answer of the vendor's
routes (also in the journal and the access log), `Retry-After` on every 429, whatever made it."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from typing import Any

import httpx
import jsonschema_rs
import pytest

from mockserver import Settings, Simulator
from mockserver.cli.logging import ACCESS_MESSAGE, AccessFormatter
from mockserver.domain.chaos import parse_chaos
from mockserver.domain.errors import RETRY_AFTER_429
from mockserver.domain.limits import UNLIMITED_REMAINING
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.timing import FAST
from mockserver.service.admission import MAX_RETRY_AFTER
from mockserver.spec import CREDITS_FILE, spec_dir
from mockserver.web.requests import REQUEST_ID

from ..bodies import create_body
from ..callback_fixtures import api_for
from ..conftest import KEY, START, MakeSimulator

pytestmark = pytest.mark.anyio

VALID = create_body(prompt="a cat")


def with_profile(make_simulator: MakeSimulator, **profile: Any) -> Simulator:
    """A simulator (fast timings, virtual clock) where KEY has this profile."""
    profiles = Profiles(keys={KEY: KeyProfile(**profile)})
    return make_simulator(
        Settings(timings=FAST, clock="virtual", start_time=START, profiles=profiles)
    )


async def test_every_vendor_answer_has_its_own_request_id_also_in_the_journal(
    api: httpx.AsyncClient,
) -> None:
    created = await api.post("/v1/videos/generations", json=VALID)
    task_id = created.json()["id"]
    answers = [
        created,
        await api.get(f"/v1/tasks/{task_id}"),
        await api.post("/v1/videos/generations", json={"model": "sora-1"}),  # 400
        await api.get("/v1/tasks/task-unified-1-nothere0"),  # 404
        await api.get(f"/v1/tasks/{task_id}", headers={"Authorization": "Basic x"}),  # 401
        await api.get(f"/v1/tasks/{task_id}", headers={"X-Mock-Scenario": "http:503"}),
    ]
    journal = (await api.get("/_mock/requests")).json()

    ids = [answer.headers["x-request-id"] for answer in answers]
    assert [a.status_code for a in answers] == [200, 200, 400, 404, 401, 503]
    assert all(i.startswith("req_") and len(i) == 28 for i in ids)
    assert len(set(ids)) == len(ids)
    assert sorted(entry["request_id"] for entry in journal) == sorted(ids)
    assert "x-request-id" not in (await api.get("/_mock/health")).headers  # the mock's own


async def test_a_429_says_when_the_bucket_lets_the_next_request_in(
    make_simulator: MakeSimulator,
) -> None:
    sim = with_profile(make_simulator, rate=0.1, burst=1)
    async with api_for(sim, KEY) as api:
        first = await api.post("/v1/videos/generations", json=VALID)
        refused = await api.post("/v1/videos/generations", json=VALID)
        wait = int(refused.headers["retry-after"])
        await api.post("/_mock/clock/advance", json={"seconds": wait - 1})
        early = await api.post("/v1/videos/generations", json=VALID)
        early_wait = int(early.headers["retry-after"])
        await api.post("/_mock/clock/advance", json={"seconds": early_wait})
        on_time = await api.post("/v1/videos/generations", json=VALID)

    assert (first.status_code, refused.status_code) == (200, 429)
    assert wait == 10  # one token every 10 s
    assert (early.status_code, early_wait) == (429, 1)
    assert on_time.status_code == 200


#: Each way to make the mock answer 429 but a key's own limits: (settings, headers, prompt).
INJECTED_429: dict[str, tuple[dict[str, Any], dict[str, str], str]] = {
    "header-code": ({}, {"X-Mock-Scenario": "rate_limit_exceeded"}, "a cat"),
    "header-status": ({}, {"X-Mock-Scenario": "http:429"}, "a cat"),
    "prefer": ({}, {"Prefer": "code=429"}, "a cat"),
    "chaos": ({"chaos": parse_chaos("rate=1,scenarios=rate_limit_exceeded")}, {}, "a cat"),
    "key-default": ({"profiles": Profiles(default=KeyProfile(scenario="http:429"))}, {}, "a cat"),
    "prompt-marker": ({"prompt_markers": True}, {}, "a cat [mock:rate_limit_exceeded]"),
}
OPERATIONS = ("create", "query", "credits")


async def ask(api: httpx.AsyncClient, operation: str, headers: dict[str, str], prompt: str) -> Any:
    if operation == "create":
        return await api.post(
            "/v1/videos/generations", json=create_body(prompt=prompt), headers=headers
        )
    if operation == "query":
        return await api.get("/v1/tasks/task-unified-1800000000-aaaaaaaa", headers=headers)
    return await api.get("/v1/credits", headers=headers)


def assert_comes_back_in(response: httpx.Response, seconds: int) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert re.fullmatch(r"[1-9][0-9]*", response.headers["retry-after"])  # whole seconds, >= 1
    assert int(response.headers["retry-after"]) == seconds


@pytest.mark.parametrize(
    ("source", "operation"),
    [
        (source, operation)
        for source in sorted(INJECTED_429)
        for operation in OPERATIONS
        if source != "prompt-marker" or operation == "create"  # only a create has a prompt
    ],
)
async def test_an_injected_429_says_when_to_come_back(
    make_simulator: MakeSimulator, source: str, operation: str
) -> None:
    settings, headers, prompt = INJECTED_429[source]
    sim = make_simulator(Settings(timings=FAST, clock="virtual", start_time=START, **settings))
    async with api_for(sim, KEY) as api:
        response = await ask(api, operation, headers, prompt)

    assert_comes_back_in(response, RETRY_AFTER_429)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("scenario", ["http:429", "rate_limit_exceeded"])
async def test_an_admin_faults_429_says_when_to_come_back(
    make_simulator: MakeSimulator, scenario: str, operation: str
) -> None:
    async with api_for(make_simulator(), KEY) as api:
        fault = {"scenario": scenario, "match": {"operation": operation}, "times": 1}
        assert (await api.post("/_mock/faults", json=fault)).status_code == 201
        response = await ask(api, operation, {}, "a cat")

    assert_comes_back_in(response, RETRY_AFTER_429)


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_a_bucket_that_never_refills_says_a_day(
    make_simulator: MakeSimulator, operation: str
) -> None:
    """`rate = 0`: the first request takes the one token and none ever comes back; the wait is
    endless, so the 429 names the longest wait a Retry-After here does (and is never a 500)."""
    sim = with_profile(make_simulator, rate=0)
    async with api_for(sim, KEY) as api:
        first = await ask(api, operation, {}, "a cat")
        refused = await ask(api, operation, {}, "a cat")

    assert first.status_code != 429
    assert_comes_back_in(refused, MAX_RETRY_AFTER)


async def test_a_429_for_concurrency_says_when_the_first_running_task_ends(
    make_simulator: MakeSimulator,
) -> None:
    sim = with_profile(make_simulator, max_concurrent=1)
    async with api_for(sim, KEY) as api:
        running = (await api.post("/v1/videos/generations", json=VALID)).json()
        await api.post("/_mock/clock/advance", json={"seconds": 12.5})
        refused = await api.post("/v1/videos/generations", json=VALID)
        await api.post(
            "/_mock/clock/advance", json={"seconds": int(refused.headers["retry-after"])}
        )
        after = await api.post("/v1/videos/generations", json=VALID)

    assert refused.status_code == 429
    # the fast plan of a 4 s task ends 45 s after its create; 12.5 s have gone
    assert running["task_info"]["estimated_time"] == 45
    assert refused.headers["retry-after"] == "33"
    assert after.status_code == 200


def test_the_access_line_of_a_vendor_call_ends_with_its_request_id() -> None:
    args = ("127.0.0.1:5555", "POST", "/v1/videos/generations", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, ACCESS_MESSAGE, args, None
    )
    formatter = AccessFormatter(use_colors=False)

    def during_a_call() -> str:
        REQUEST_ID.set("req_0123456789abcdef01234567")
        return formatter.format(record)

    line = contextvars.copy_context().run(during_a_call)

    assert line.endswith(
        '"POST /v1/videos/generations HTTP/1.1" 200 OK req_0123456789abcdef01234567'
    )
    assert formatter.format(record).endswith("200 OK")  # outside a call: uvicorn's line


async def test_credits_show_the_keys_balance_in_the_vendors_shape_as_accounts_do(
    make_simulator: MakeSimulator,
) -> None:
    sim = with_profile(make_simulator, credits=1000)
    async with api_for(sim, KEY) as api:
        fresh = (await api.get("/v1/credits")).json()
        for _ in range(2):
            await api.post("/v1/videos/generations", json=VALID)  # 4 s at 720p: 69.12 each
        await api.post("/_mock/clock/advance", json={"seconds": 3600})
        await api.post("/v1/videos/generations", json=VALID)  # running: reserved
        balance = await api.get("/v1/credits")
        (account,) = (await api.get("/_mock/accounts", params={"api_key": KEY})).json()
    async with api_for(make_simulator(), "sk-unlimited") as api:
        unlimited = (await api.get("/v1/credits")).json()

    def envelope(remaining: float, used: float, unlimited: bool) -> dict[str, Any]:
        return {
            "success": True,
            "message": "",
            "data": {
                "user": {"remaining_credits": remaining, "used_credits": used},
                "token": {
                    "remaining_credits": remaining,
                    "unlimited_credits": unlimited,
                    "used_credits": used,
                },
            },
        }

    assert fresh == envelope(1000.0, 0.0, False)
    assert balance.json() == envelope(792.64, 138.24, False)
    assert (account["used"], account["remaining"]) == (138.24, 792.64)
    assert balance.headers["x-request-id"].startswith("req_")
    assert unlimited == envelope(UNLIMITED_REMAINING, 0.0, True)


@pytest.mark.parametrize("credits", [None, 0, 100, 1000.5], ids=["unlimited", "0", "100", "1000.5"])
async def test_credits_answer_the_schema_of_the_vendored_credits_page(
    make_simulator: MakeSimulator, credits: float | None
) -> None:
    page = json.loads((spec_dir() / CREDITS_FILE).read_text(encoding="utf-8"))
    schema = {"$ref": "#/components/schemas/CreditsResponse", "components": page["components"]}
    validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    sim = with_profile(make_simulator, credits=credits)
    async with api_for(sim, KEY) as api:
        bodies = [(await api.get("/v1/credits")).json()]
        await api.post("/v1/videos/generations", json=VALID)  # 69.12: more than some have
        bodies.append((await api.get("/v1/credits")).json())
        await api.post("/_mock/clock/advance", json={"seconds": 3600})
        bodies.append((await api.get("/v1/credits")).json())

    for body in bodies:
        assert [error.message for error in validator.iter_errors(body)] == []
        assert body["success"] is True
        assert set(body["data"]) == {"user", "token"}
    assert bodies[-1]["data"]["token"]["unlimited_credits"] is (credits is None)


async def test_credits_need_a_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/credits", headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_request_ids_stay_unique_and_well_formed_across_pool_refills() -> None:
    from mockserver.service.ids import RequestIds

    ids = RequestIds()
    drawn = [ids.new() for _ in range(1000)]  # several refills of the pool

    assert len(set(drawn)) == 1000
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", i) for i in drawn)
