"""The vendor's two operations over HTTP, in-process: bodies, errors, auth."""

from __future__ import annotations

import json
import re
from collections import Counter

import httpx
import jsonschema_rs
import pytest
from starlette.types import Message

from mockserver import Settings, Simulator, create_app, load_spec
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.domain.timing import FAST
from mockserver.service.ids import TaskIds

from ..bodies import create_body
from ..callback_fixtures import api_for
from ..conftest import KEY, START, MakeSimulator

pytestmark = pytest.mark.anyio

SPEC = load_spec()
VALID = create_body()


def response_validator(operation_id: str, status: int) -> jsonschema_rs.Validator:
    schema = SPEC.operation(operation_id)["responses"][str(status)]["content"]["application/json"]
    root = {**schema["schema"], "components": SPEC.document["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def documented_body(operation_id: str, status: int) -> dict[str, object]:
    example: dict[str, object] = SPEC.operation(operation_id)["responses"][str(status)]["content"][
        "application/json"
    ]["example"]
    return example


async def test_create_answers_200_with_a_schema_valid_task(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/videos/generations", json=VALID)

    assert response.status_code == 200
    body = response.json()
    response_validator("createVideoGeneration", 200).validate(body)
    assert re.fullmatch(rf"task-unified-{int(START)}-[a-z0-9]{{8}}", body["id"])
    assert body["created"] == int(START)
    assert (body["status"], body["progress"], body["object"]) == (
        "pending",
        0,
        "video.generation.task",
    )


async def test_create_fills_the_documented_defaults(api: httpx.AsyncClient) -> None:
    body = (await api.post("/v1/videos/generations", json=create_body(prompt="x"))).json()

    assert body["task_info"]["video_duration"] == 4
    assert body["usage"] == {
        "billing_rule": "per_second",
        "credits_reserved": 69.12,
        "user_group": "default",
    }


async def test_an_undeclared_field_sent_as_null_is_taken_as_absent(api: httpx.AsyncClient) -> None:
    plain = (await api.post("/v1/videos/generations", json=VALID)).json()
    nulled = await api.post("/v1/videos/generations", json={**VALID, "note": None})

    assert nulled.status_code == 200
    body = nulled.json()
    assert (body["task_info"], body["usage"]) == (plain["task_info"], plain["usage"])


async def test_an_integral_float_duration_is_an_integer(api: httpx.AsyncClient) -> None:
    body = (await api.post("/v1/videos/generations", json={**VALID, "duration": 12.0})).json()

    assert body["task_info"]["video_duration"] == 12
    assert isinstance(body["task_info"]["video_duration"], int)


PUBLISHED_PRICES = [  # evolink.ai/sora-2-pro, pricing table, read 2026-12
    (4, "720p", 69.12),
    (8, "720p", 138.24),
    (12, "720p", 207.36),
    (4, "1080p", 115.22304),
    (8, "1080p", 230.44608),
    (12, "1080p", 345.66912),
]


@pytest.mark.parametrize(
    ("duration", "quality", "credits"),
    PUBLISHED_PRICES,
    ids=[f"{d}s-{q}" for d, q, _ in PUBLISHED_PRICES],
)
async def test_each_shape_reserves_the_published_price_and_completion_charges_exactly_it(
    make_simulator: MakeSimulator, duration: int, quality: str, credits: float
) -> None:
    profiles = Profiles(keys={KEY: KeyProfile(credits=1000)})
    sim = make_simulator(
        Settings(timings=FAST, clock="virtual", start_time=START, profiles=profiles)
    )
    async with api_for(sim, KEY) as api:
        response = await api.post(
            "/v1/videos/generations", json={**VALID, "duration": duration, "quality": quality}
        )
        await api.post("/_mock/clock/advance", json={"seconds": 3600})
        (account,) = (await api.get("/_mock/accounts", params={"api_key": KEY})).json()

    assert f'"credits_reserved":{credits}' in response.text.replace(" ", "")  # no float noise
    assert response.json()["usage"]["credits_reserved"] == credits
    assert account["used"] == credits
    assert account["remaining"] == round(1000 - credits, 6)


BAD_BODIES = [
    ("missing-prompt", {"model": "sora-2-pro-preview"}, "prompt"),
    ("missing-model", {"prompt": "x"}, "model"),
    ("unknown-model", {**VALID, "model": "sora-1"}, "model"),
    ("prompt-not-string", {**VALID, "prompt": 42}, "prompt"),
    ("prompt-over-5000", {**VALID, "prompt": "x" * 5001}, "prompt"),
    ("duration-not-allowed", {**VALID, "duration": 5}, "duration"),
    ("duration-string", {**VALID, "duration": "8"}, "duration"),
    ("duration-fraction", {**VALID, "duration": 8.5}, "duration"),
    ("duration-bool", {**VALID, "duration": True}, "duration"),
    ("aspect-ratio", {**VALID, "aspect_ratio": "4:3"}, "aspect_ratio"),
    ("quality", {**VALID, "quality": "4k"}, "quality"),
    (
        "two-image-urls",
        {**VALID, "image_urls": ["https://a.test/1.png", "https://a.test/2.png"]},
        "image_urls",
    ),
    ("image-url-not-uri", {**VALID, "image_urls": ["not a uri"]}, "image_urls"),
    ("image-urls-not-array", {**VALID, "image_urls": "https://a.test/1.png"}, "image_urls"),
    ("callback-not-uri", {**VALID, "callback_url": "no scheme"}, "callback_url"),
    ("lone-surrogate", {**VALID, "prompt": "\ud800"}, "prompt"),
    ("array-body", [], "object"),
    ("string-body", "hello", "object"),
]


@pytest.mark.parametrize(
    ("body", "field"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
async def test_a_bad_body_is_a_400_naming_the_field(
    api: httpx.AsyncClient, sim: Simulator, body: object, field: str
) -> None:
    raw = json.dumps(body)  # json.dumps keeps a lone surrogate as an escape
    response = await api.post(
        "/v1/videos/generations", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("invalid_request", "invalid_request_error")
    assert field in error["message"]
    assert await sim.store.count_tasks() == 0


BAD_RAW = [
    ("truncated", b'{"model": "sora-2-pro-preview", "prompt": ', "malformed JSON"),
    ("not-json", b"model=sora", "malformed JSON"),
    ("nan", b'{"model": "sora-2-pro-preview", "prompt": "x", "duration": NaN}', "NaN"),
    ("empty", b"", "empty"),
    ("deeply-nested", b"[" * 100_000, "malformed JSON"),
    ("invalid-utf8", b'{"prompt": "\xff\xfe"}', "malformed JSON"),
    ("huge", b'{"prompt": "' + b"x" * 300_000 + b'"}', "over"),
]
HUGE = BAD_RAW.pop()


@pytest.mark.parametrize(("raw", "words"), [b[1:] for b in BAD_RAW], ids=[b[0] for b in BAD_RAW])
async def test_an_unreadable_body_is_a_400_that_says_why(
    api: httpx.AsyncClient, sim: Simulator, raw: bytes, words: str
) -> None:
    response = await api.post(
        "/v1/videos/generations", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert words in response.json()["error"]["message"]
    assert await sim.store.count_tasks() == 0


async def test_a_huge_body_is_the_gateways_413_and_keeps_nothing(
    api: httpx.AsyncClient, sim: Simulator
) -> None:
    response = await api.post(
        "/v1/videos/generations", content=HUGE[1], headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["type"]) == ("request_too_large", "request_too_large_error")
    assert "over" in error["message"]
    assert await sim.store.count_tasks() == 0


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
async def test_a_body_that_is_not_declared_json_is_a_400(
    api: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await api.post("/v1/videos/generations", content=json.dumps(VALID), headers=headers)

    assert response.status_code == 400
    assert "Content-Type must be application/json" in response.json()["error"]["message"]


async def test_json_with_a_charset_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/videos/generations",
        content=json.dumps(VALID),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 200


BAD_AUTH = [
    ("missing", None),
    ("empty", ""),
    ("scheme-only", "Bearer"),
    ("blank-token", "Bearer    "),
    ("basic", "Basic dXNlcjpwYXNz"),
    ("token-with-space", "Bearer two words"),
    ("other-scheme", "Token abc"),
    # not shaped like the vendor's keys: what schemathesis' invalid-auth probe sends
    ("not-vendor-shaped", "Bearer SCHEMATHESIS-INVALID-VALUE"),
    ("sk-alone", "Bearer sk-"),
    ("sk-odd-characters", "Bearer sk-a.b"),
]


@pytest.mark.parametrize("authorization", [b[1] for b in BAD_AUTH], ids=[b[0] for b in BAD_AUTH])
@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        ("POST", "/v1/videos/generations", "createVideoGeneration"),
        ("GET", "/v1/tasks/task-unified-1-abcdefgh", "getTaskDetail"),
    ],
    ids=["create", "query"],
)
async def test_bad_credentials_are_the_documented_401(
    sim: Simulator, method: str, path: str, operation_id: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(create_app(simulator=sim)), base_url="http://mock.test"
    ) as client:
        response = await client.request(method, path, json=VALID, headers=headers)

    assert response.status_code == 401
    assert response.json() == documented_body(operation_id, 401)


async def test_the_bearer_scheme_is_case_insensitive(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/videos/generations", json=VALID, headers={"Authorization": f"bearer {KEY}"}
    )

    assert response.status_code == 200


async def test_api_keys_restrict_who_is_accepted() -> None:
    app = create_app(Settings(timings=FAST, api_keys=frozenset({"sk-a", "sk-b"}), clock="virtual"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://mock.test"
    ) as client:
        answers = [
            (
                await client.post(
                    "/v1/videos/generations", json=VALID, headers={"Authorization": f"Bearer {key}"}
                )
            ).status_code
            for key in ("sk-a", "sk-b", "sk-c")
        ]

    assert answers == [200, 200, 401]


async def test_query_answers_the_owner_with_the_task(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()

    response = await api.get(f"/v1/tasks/{created['id']}")

    assert response.status_code == 200
    response_validator("getTaskDetail", 200).validate(response.json())
    assert response.json() == created  # nothing moved: the virtual clock stood still


@pytest.mark.parametrize(
    ("task_id", "status"),
    [
        ("abc", 400),
        ("task-unified", 400),
        ("TASK-UNIFIED-1-abcdefgh", 400),
        ("task-unified-1-abcdefgh", 404),
    ],
    ids=["no-prefix", "prefix-without-dash", "upper-case", "unknown"],
)
async def test_query_errors_are_documented(
    api: httpx.AsyncClient, task_id: str, status: int
) -> None:
    response = await api.get(f"/v1/tasks/{task_id}")

    assert response.status_code == status
    assert response.json() == documented_body("getTaskDetail", status)


async def test_another_keys_task_is_403_and_unchanged(api: httpx.AsyncClient) -> None:
    created = (await api.post("/v1/videos/generations", json=VALID)).json()

    intruder = await api.get(
        f"/v1/tasks/{created['id']}", headers={"Authorization": "Bearer sk-other"}
    )
    owner = await api.get(f"/v1/tasks/{created['id']}")

    assert intruder.status_code == 403
    assert intruder.json() == documented_body("getTaskDetail", 403)
    assert owner.json() == created


async def test_the_merged_spec_is_served(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    assert response.json() == SPEC.document


async def test_an_unknown_route_is_a_404_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_wrong_method_is_a_405_envelope_with_allow(api: httpx.AsyncClient) -> None:
    response = await api.delete("/v1/videos/generations")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert set(response.json()["error"]) == {"code", "message", "type"}


async def test_unset_optional_urls_stay_unset(api: httpx.AsyncClient, sim: Simulator) -> None:
    """The spec's examples for image_urls and callback_url are placeholders, never defaults."""
    created = (await api.post("/v1/videos/generations", json=VALID)).json()

    task = await sim.store.get_task(created["id"])
    assert task is not None
    assert task.request.image_urls == ()
    assert task.request.callback_url is None
    assert (task.request.aspect_ratio, task.request.duration, task.request.quality) == (
        "16:9",
        4,
        "720p",
    )


def test_task_ids_are_unique_and_well_formed_across_many_draws() -> None:
    draw = TaskIds()
    ids = {draw.new(START) for _ in range(3000)}

    assert len(ids) == 3000
    assert all(re.fullmatch(rf"task-unified-{int(START)}-[a-z0-9]{{8}}", i) for i in ids)
    # 24,000 suffix characters over several refills of the random pool: all 36 in use, evenly
    # (each is expected ~667 times, with a standard deviation of ~25)
    counts = Counter("".join(i[-8:] for i in ids))
    assert len(counts) == 36
    assert all(0.7 < n / (24_000 / 36) < 1.3 for n in counts.values()), counts


async def test_result_urls_follow_the_host_the_client_used(sim: Simulator) -> None:
    app = create_app(simulator=sim)
    headers = {"Authorization": f"Bearer {KEY}"}
    urls = []
    for base in ("http://one.test", "http://two.test:8080", "http://one.test"):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url=base, headers=headers
        ) as client:
            created = (await client.post("/v1/videos/generations", json=VALID)).json()
            await sim.advance(45)
            urls.append((await client.get(f"/v1/tasks/{created['id']}")).json()["results"][0])

    assert [u.split("/_mock/")[0] for u in urls] == [
        "http://one.test",
        "http://two.test:8080",
        "http://one.test",
    ]


async def test_a_list_shaped_asgi_server_entry_is_served(sim: Simulator) -> None:
    """Some ASGI clients give scope["server"] as a list; the base URL cache must cope."""
    app = create_app(simulator=sim)
    sent: list[Message] = []
    body = json.dumps(VALID).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/videos/generations",
        "raw_path": b"/v1/videos/generations",
        "root_path": "",
        "query_string": b"",
        "server": ["localhost", 80],
        "client": ["127.0.0.1", 1],
        "headers": [
            (b"host", b"localhost"),
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-type", b"application/json"),
        ],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["status"] == 200
