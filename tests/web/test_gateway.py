"""The gateway's routes the vendor's client calls beyond the pages: a key's task list, a batch
read of tasks, the models a key can use. Over HTTP, in-process, on every store."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs
import pytest

from mockserver import Settings, create_app, load_spec
from mockserver.domain.catalog import CREDITS_PER_USD
from mockserver.domain.models import load_models
from mockserver.domain.pricing import Pricing
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.timing import FAST
from mockserver.spec import (
    BATCH_TASKS,
    LIST_MODELS,
    LIST_TASKS,
    MODEL_PRICING,
    PRICING_RULES,
)

from ..bodies import create_body
from ..conftest import KEY, START, MakeSimulator

pytestmark = pytest.mark.anyio

SPEC = load_spec()
OTHER = "sk-test-other"
#: `TaskListItem` of the vendor's current client (EvoLinkAI/evolink-mcp,
#: packages/core/src/services/api-client.ts): every field a listing's item may carry
CLIENT_LIST_ITEM = {
    "id",
    "model",
    "type",
    "status",
    "progress",
    "created_at",
    "duration",
    "has_results",
    "result_count",
    "has_error",
    "credits_used",
}
#: `TaskListResponse` of the same file
CLIENT_LIST = {"data", "total", "page", "page_size"}


def validator(operation_id: str, status: int = 200) -> jsonschema_rs.Validator:
    response = SPEC.operation(operation_id)["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**schema, "components": SPEC.document["components"]})


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(api: httpx.AsyncClient, scenario: str | None = None, **body: object) -> str:
    headers = {"X-Mock-Scenario": scenario} if scenario else {}
    response = await api.post("/v1/videos/generations", json=create_body(**body), headers=headers)
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


async def three_tasks(api: httpx.AsyncClient) -> list[str]:
    """Two completed tasks and a failed one, the failed one last, all ended."""
    ids = [await create(api), await create(api), await create(api, "fail:service_error")]
    await api.post("/_mock/clock/advance", json={"seconds": 3600})
    return ids


async def listed(api: httpx.AsyncClient, query: str = "", **headers: str) -> dict[str, Any]:
    response = await api.get(f"/v1/tasks{query}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    validator(LIST_TASKS).validate(body)
    return body


# -- GET /v1/tasks ----------------------------------------------------------------------------


async def test_a_keys_tasks_are_listed_newest_first_a_page_at_a_time(
    api: httpx.AsyncClient,
) -> None:
    ids = await three_tasks(api)

    first = await listed(api, "?page=1&page_size=2")
    second = await listed(api, "?page=2&page_size=2")

    assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
    assert [item["id"] for item in first["data"]] == [ids[2], ids[1]]
    assert [item["id"] for item in second["data"]] == [ids[0]]
    assert (await listed(api, "?page=3&page_size=2"))["data"] == []


async def test_the_status_filter_counts_only_the_tasks_in_it(api: httpx.AsyncClient) -> None:
    await three_tasks(api)

    completed = await listed(api, "?status=completed")
    failed = await listed(api, "?status=failed")

    assert completed["total"] == 2
    assert failed["total"] == 1
    (item,) = failed["data"]
    assert (item["status"], item["has_error"], item["has_results"]) == ("failed", True, False)
    assert (await listed(api, "?status=processing"))["total"] == 0


async def test_processing_finds_queued_tasks_too_and_pending_only_those(
    api: httpx.AsyncClient,
) -> None:
    queued = await create(api)

    processing = await listed(api, "?status=processing")
    pending = await listed(api, "?status=pending")

    assert [item["id"] for item in processing["data"]] == [queued]
    assert pending["total"] == 1
    assert (await listed(api, "?status=completed"))["total"] == 0


async def test_a_cancelled_task_is_found_as_cancelled_and_as_failed(api: httpx.AsyncClient) -> None:
    cancelled = await create(api)
    await create(api)
    assert (await api.post(f"/_mock/tasks/{cancelled}/cancel")).status_code == 200

    found = await listed(api, "?status=cancelled")

    assert [item["id"] for item in found["data"]] == [cancelled]
    assert (await listed(api, "?status=failed"))["total"] == 1


async def test_another_keys_tasks_never_appear(api: httpx.AsyncClient) -> None:
    await three_tasks(api)

    theirs = await listed(api, "", **as_key(OTHER))

    assert (theirs["total"], theirs["data"]) == (0, [])


async def test_the_model_and_type_filters(api: httpx.AsyncClient) -> None:
    pro = await create(api)
    plain = await create(api, model="sora-2-preview")

    by_model = await listed(api, "?model=sora-2-preview")
    videos = await listed(api, "?type=video")
    images = await listed(api, "?type=image")

    assert [item["id"] for item in by_model["data"]] == [plain]
    assert [item["id"] for item in videos["data"]] == [plain, pro]
    assert images["total"] == 0
    assert (await listed(api, "?model="))["total"] == 2  # an empty model filters nothing


async def test_an_item_carries_what_the_vendors_client_reads_and_no_links(
    api: httpx.AsyncClient,
) -> None:
    await three_tasks(api)
    running = await create(api)

    body = await listed(api)
    items = {item["id"]: item for item in body["data"]}
    done = next(item for item in items.values() if item["status"] == "completed")

    assert set(body) >= CLIENT_LIST
    for item in items.values():
        assert set(item) <= CLIENT_LIST_ITEM
    assert (done["has_results"], done["result_count"], done["credits_used"]) == (True, 1, 69.12)
    assert done["duration"] > 0
    assert done["created_at"] == int(START)
    assert {"duration", "credits_used"}.isdisjoint(items[running])


async def test_a_task_whose_links_expired_is_left_out(api: httpx.AsyncClient) -> None:
    await three_tasks(api)
    await api.post("/_mock/clock/advance", json={"seconds": 24 * 3600})

    assert (await listed(api))["total"] == 0


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("?page=0", "page"),
        ("?page=-1", "page"),
        ("?page=1.5", "page"),
        ("?page=100001", "page"),
        ("?page=%EF%BC%91", "page"),  # a fullwidth 1: a digit to str.isdigit, not to the spec
        ("?page_size=many", "page_size"),
        ("?page_size=0", "page_size"),
        ("?page_size=101", "page_size"),
        ("?page_size=", "page_size"),
        ("?status=running", "status"),
        ("?status=", "status"),
        ("?type=film", "type"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    api: httpx.AsyncClient, query: str, param: str
) -> None:
    response = await api.get(f"/v1/tasks{query}")

    assert response.status_code == 400
    validator(LIST_TASKS, 400).validate(response.json())
    error = response.json()["error"]
    assert (error["code"], error["type"], error["param"]) == (
        "invalid_request",
        "invalid_request_error",
        param,
    )


async def test_the_default_page_size_is_the_vendor_clients_20(api: httpx.AsyncClient) -> None:
    body = await listed(api)

    assert (body["page"], body["page_size"]) == (1, 20)


async def test_a_listing_without_a_key_is_the_documented_401(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/tasks", headers={"Authorization": ""})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_a_listing_takes_a_scenario_as_every_vendor_route(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/tasks", headers={"X-Mock-Scenario": "rate_limit_exceeded"})

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    assert response.headers["retry-after"] == "1"


async def test_isolated_keys_list_their_own_worlds(make_simulator: MakeSimulator) -> None:
    sim = make_simulator(
        Settings(timings=FAST, clock="virtual", start_time=START, isolate_keys=True)
    )
    transport = httpx.ASGITransport(create_app(simulator=sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as api:
        for key in (KEY, KEY, OTHER):
            body, headers = create_body(), as_key(key)
            created = await api.post("/v1/videos/generations", json=body, headers=headers)
            assert created.is_success

        mine = (await api.get("/v1/tasks", headers=as_key(KEY))).json()
        theirs = (await api.get("/v1/tasks", headers=as_key(OTHER))).json()

    assert (mine["total"], theirs["total"]) == (2, 1)


# -- POST /v1/tasks/batch ---------------------------------------------------------------------


async def batch(api: httpx.AsyncClient, ids: object, **headers: str) -> httpx.Response:
    return await api.post("/v1/tasks/batch", json={"task_ids": ids}, headers=headers)


async def test_a_batch_answers_each_known_task_as_its_query_and_leaves_unknown_ones_out(
    api: httpx.AsyncClient,
) -> None:
    done, _, failed = await three_tasks(api)
    unknown = "task-unified-1800000000-nothere0"

    response = await batch(api, [failed, unknown, done, failed])

    assert response.status_code == 200
    body = response.json()
    validator(BATCH_TASKS).validate(body)
    assert [task["id"] for task in body["data"]] == [failed, done]  # as asked, each once
    assert body["data"][0]["error"]["code"] == "service_error"
    for task in body["data"]:
        assert task == (await api.get(f"/v1/tasks/{task['id']}")).json()


async def test_a_batch_leaves_another_keys_tasks_out(api: httpx.AsyncClient) -> None:
    mine = await create(api)

    theirs = await batch(api, [mine], **as_key(OTHER))

    assert theirs.status_code == 200
    assert theirs.json() == {"data": []}


@pytest.mark.parametrize(
    "body",
    [
        {"task_ids": ["task-unified-1800000000-aaaaaaaa"] * 51},
        {"task_ids": []},
        {"task_ids": ["not-a-task"]},
        {"task_ids": ["task-unified-1800000000-aaaaaaaa", 7]},
        {"task_ids": "task-unified-1800000000-aaaaaaaa"},
        {"ids": ["task-unified-1800000000-aaaaaaaa"]},
        ["task-unified-1800000000-aaaaaaaa"],
    ],
    ids=["51-ids", "no-ids", "not-a-task-id", "not-a-string", "not-a-list", "no-field", "list"],
)
async def test_a_bad_batch_is_a_400_naming_task_ids(api: httpx.AsyncClient, body: object) -> None:
    response = await api.post("/v1/tasks/batch", json=body)

    assert response.status_code == 400
    validator(BATCH_TASKS, 400).validate(response.json())
    assert response.json()["error"]["param"] == "task_ids"


async def test_fifty_ids_are_one_batch(api: httpx.AsyncClient) -> None:
    task_id = await create(api)

    response = await batch(api, [task_id] + [f"task-unified-1-{n:08d}" for n in range(49)])

    assert response.status_code == 200
    assert [task["id"] for task in response.json()["data"]] == [task_id]


async def test_a_batch_body_that_is_not_json_is_a_400(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/tasks/batch", content=b"{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


async def test_a_batch_is_a_post_a_get_of_it_is_405(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/tasks/batch")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# -- GET /v1/models ---------------------------------------------------------------------------


async def test_the_served_models_are_listed_as_the_docs_check_a_key(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/v1/models")

    assert response.status_code == 200
    body = response.json()
    validator(LIST_MODELS).validate(body)
    assert [model["id"] for model in body["data"]] == ["sora-2-pro-preview", "sora-2-preview"]
    assert body["data"][0] == {
        "id": "sora-2-pro-preview",
        "object": "model",
        "created": 0,
        "owned_by": "evolink",
    }


async def test_a_key_sees_only_the_models_its_profile_allows(
    make_simulator: MakeSimulator,
) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(models=("sora-2-preview",))})
    sim = make_simulator(Settings(timings=FAST, clock="virtual", profiles=profiles))
    transport = httpx.ASGITransport(create_app(simulator=sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as api:
        limited = (await api.get("/v1/models", headers=as_key(KEY))).json()
        everyone = (await api.get("/v1/models", headers=as_key(OTHER))).json()

    assert [model["id"] for model in limited["data"]] == ["sora-2-preview"]
    assert len(everyone["data"]) == 2


async def test_models_need_a_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/models", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


# -- the public price lists -----------------------------------------------------------------

#: How the vendor's pricing client reads a SKU's routing note first (pricing-client.ts,
#: ROUTING_NOTE): "$MIN[-$MAX] per UNIT", ended by a stop or a comma
ROUTING_NOTE = re.compile(
    r"\$([\d,]*\.?\d+)(?:\s*[-\u2013~]\s*\$?([\d,]*\.?\d+))?\s+per\s+([A-Za-z0-9 ]+?)(?=[.,;]|$)"
)


def app_api(settings: Settings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://mock.test")


def sku(body: dict[str, Any], sku_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in body["data"] if s["sku_id"] == sku_id)
    return found


def rule(body: dict[str, Any], model: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in body["rules"] if r["model_id"] == model)
    return found


async def test_the_price_list_needs_no_key_and_shows_17_28_credits_a_second() -> None:
    async with app_api(Settings(clock="virtual", start_time=START)) as api:
        response = await api.get("/web/api/models/pricing")

    assert response.status_code == 200
    body = response.json()
    validator(MODEL_PRICING).validate(body)
    pro = sku(body, "sora-2-pro-preview:720p")
    note = ROUTING_NOTE.search(pro["routing_note"])
    assert note is not None
    assert note.group(3) == "second"  # the unit the client prices by
    assert float(note.group(1)) * CREDITS_PER_USD == pytest.approx(17.28, abs=1e-4)
    assert "17.28 credits per second" in pro["routing_note"]
    assert pro["price_range"]["min_usd"] * CREDITS_PER_USD == pytest.approx(17.28, abs=1e-4)
    assert pro["min_charge_uc"] / 10_000 == 69.12  # a 4 s video
    assert pro["cny_price"] == 1.728
    assert {s["sku_id"] for s in body["data"]} == {
        "sora-2-pro-preview:720p",
        "sora-2-pro-preview:1080p",
        "sora-2-preview:720p",
    }


async def test_the_pricing_rules_list_sora_2_preview_as_the_vendors_list_of_2026_10_10() -> None:
    async with app_api(Settings(clock="virtual", start_time=START)) as api:
        response = await api.get("/v1/catalog/pricing-rules")

    body = response.json()
    validator(PRICING_RULES).validate(body)
    preview = rule(body, "sora-2-preview")
    (component,) = preview["components"]
    assert (preview["price_scope"], preview["billing_rule"]) == ("public_default", "per_call")
    assert (component["name"], component["unit"]) == ("video_output", "output_second")
    assert (component["rate"], component["min_charge"]) == (5.76, 23.04)
    assert preview["parameters"]["duration"]["enum"] == [4, 8, 12]
    pro = rule(body, "sora-2-pro-preview")
    assert [(c["quality"], c["rate"]) for c in pro["components"]] == [
        ("720p", 17.28),
        ("1080p", 28.80576),
    ]
    assert pro["components"][0]["by_duration"] == {"4": 69.12, "8": 138.24, "12": 207.36}
    assert body["meta"]["schema_version"] == "1"
    assert body["meta"]["catalog_version"].startswith("mock-")


async def test_a_pricing_override_shows_in_both_lists() -> None:
    pricing = Pricing({(4, "720p"): 80.0}, "a test", "sora-2-pro-preview")
    async with app_api(Settings(clock="virtual", pricing=pricing)) as api:
        prices = (await api.get("/web/api/models/pricing")).json()
        rules = (await api.get("/v1/catalog/pricing-rules")).json()

    pro = rule(rules, "sora-2-pro-preview")["components"][0]
    assert pro["by_duration"] == {"4": 80.0, "8": 138.24, "12": 207.36}
    assert (pro["rate"], pro["min_charge"]) == (17.28, 80.0)
    note = sku(prices, "sora-2-pro-preview:720p")["routing_note"]
    assert "17.28-20 credits per second" in note  # 80 credits for 4 s is 20 a second


async def test_the_lists_follow_the_served_models() -> None:
    models = load_models(only=["sora-2-preview"])
    async with app_api(Settings(clock="virtual", models=models)) as api:
        prices = (await api.get("/web/api/models/pricing")).json()
        rules = (await api.get("/v1/catalog/pricing-rules")).json()
        listed_models = (await api.get("/v1/models", headers=as_key(KEY))).json()

    assert [s["model_name"] for s in prices["data"]] == ["sora-2-preview"]
    assert [r["model_id"] for r in rules["rules"]] == ["sora-2-preview"]
    assert [m["id"] for m in listed_models["data"]] == ["sora-2-preview"]


@pytest.mark.parametrize("path", ["/v1/catalog/pricing-rules", "/web/api/models/pricing"])
async def test_a_second_read_with_the_etag_is_a_304_without_a_body(path: str) -> None:
    async with app_api(Settings(clock="virtual", start_time=START)) as api:
        first = await api.get(path)
        etag = first.headers["etag"]
        await api.post("/_mock/clock/advance", json={"seconds": 3600})  # same prices, same list
        again = await api.get(path, headers={"If-None-Match": etag})
        weak = await api.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
        anything = await api.get(path, headers={"If-None-Match": "*"})
        stale = await api.get(path, headers={"If-None-Match": '"not-this-one"'})

    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=300"
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    assert (weak.status_code, anything.status_code) == (304, 304)
    assert (stale.status_code, stale.json()) == (200, first.json())


async def test_the_public_lists_take_no_keys_scenario() -> None:
    headers = {"Authorization": "Bearer not-a-key", "X-Mock-Scenario": "internal_error"}
    async with app_api(Settings(clock="virtual")) as api:
        for path in ("/web/api/models/pricing", "/v1/catalog/pricing-rules"):
            assert (await api.get(path, headers=headers)).status_code == 200
