"""The reference client against the spec, with no server: what it sends, and what it accepts.

Requests: every create the client can make (each enum value, each optional field present or
not) and the task query are captured with `httpx.MockTransport` and checked against the spec's
operation: path and path parameters, bearer auth, Content-Type and the body's JSON Schema. A
Hypothesis property draws the field values from the spec's own enums and limits.

Responses: for every documented status of both operations, bodies generated from the spec's
response schema (schemathesis's JSON Schema generator) are served to the client, which must parse
each 200 into a `Task` and raise the status's error class for each error, and never anything
else (KeyError, TypeError, a JSON error...).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import string
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any
from urllib.parse import unquote

import httpx
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.jsonschema.builder import build
from schemathesis.specs.openapi.formats import get_default_format_strategies

from evolink_client import (
    NO_RETRY,
    APIStatusError,
    Client,
    Model,
    Task,
    TaskSummary,
    UnexpectedResponseError,
    ValidationError,
    build_create_body,
)
from mockserver import load_spec
from mockserver.spec import BATCH_TASKS, CREATE, LIST_MODELS, LIST_TASKS, QUERY

from .oracle import expected_class

SPEC = load_spec()
DOC: dict[str, Any] = SPEC.document
KEY = "sk-contract-client"
BASE = "https://api.evolink.test"
REQUEST = SPEC.request_schema["properties"]  # the first model's, the seed's
OPTIONAL_ENUMS = ("aspect_ratio", "quality", "duration")
#: The spec's example task id: a path parameter the spec accepts.
TASK_ID: str = next(
    p["example"] for p in SPEC.operation(QUERY)["parameters"] if p["name"] == "task_id"
)
#: Derandomized and without a database: the same cases on every run, in CI too.
FIXED = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def validator(schema_json: str) -> Any:
    """A compiled 2020-12 validator (formats on) for a schema that may $ref the components."""
    schema = json.loads(schema_json)
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": DOC["components"]}, validate_formats=True
    )


def validate(schema: dict[str, Any], value: object) -> None:
    validator(json.dumps(schema, sort_keys=True)).validate(value)


def is_valid(schema: dict[str, Any], value: object) -> bool:
    return bool(validator(json.dumps(schema, sort_keys=True)).is_valid(value))


# -- requests --------------------------------------------------------------------------------------


def _path_pattern(template: str) -> re.Pattern[str]:
    """A path template as a regex: each `{name}` is one segment of the raw (encoded) path."""
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/?#]+)", re.escape(template))
    return re.compile(f"^{regex}$")


def find_operation(method: str, raw_path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec's operation for a request, and its decoded path parameters; fails if none."""
    for template, item in DOC["paths"].items():
        found = _path_pattern(template).match(raw_path)
        if found and method.lower() in item:
            params = {name: unquote(value) for name, value in found.groupdict().items()}
            return item[method.lower()], params
    pytest.fail(f"{method} {raw_path} is no operation of the spec")


def check_request(request: httpx.Request) -> object:
    """Every rule of the spec's operation for `request`; returns the decoded body (or None)."""
    raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
    operation, path_params = find_operation(request.method, raw_path)

    parameters = operation.get("parameters", [])
    for param in parameters:
        if param["in"] == "path":
            validate(param["schema"], path_params[param["name"]])
    declared_query = {p["name"] for p in parameters if p["in"] == "query"}
    assert set(request.url.params.keys()) <= declared_query

    # security: one requirement must be met; here every scheme is an HTTP bearer scheme
    requirements = operation.get("security", DOC.get("security", []))
    assert requirements, "the spec requires authentication"
    met = []
    for requirement in requirements:
        schemes = [DOC["components"]["securitySchemes"][name] for name in requirement]
        assert all((s["type"], s["scheme"]) == ("http", "bearer") for s in schemes)
        met.append(request.headers.get("authorization") == f"Bearer {KEY}")
    assert any(met), request.headers.get("authorization")

    # the client asks for what the operation answers with
    answered = {mt for r in operation["responses"].values() for mt in r.get("content", {})}
    assert request.headers["accept"] in answered

    request_body = operation.get("requestBody")
    if request_body is None:
        assert request.content == b""
        return None
    media_type = request.headers["content-type"].partition(";")[0].strip()
    assert media_type == "application/json"
    assert media_type in request_body["content"]
    assert request.content, "the requestBody is required"
    body = json.loads(request.content)
    validate(request_body["content"][media_type]["schema"], body)
    return body


class Capture:
    """A MockTransport handler that keeps each request and answers with `body`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200
        self.content = b""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return httpx.Response(
            self.status, content=self.content, headers={"content-type": "application/json"}
        )

    def answer(self, status: int, body: object) -> None:
        self.status = status
        # ensure_ascii: a body the spec allows is sent whatever characters it holds
        self.content = json.dumps(body).encode("ascii")


def task_json(**overrides: Any) -> dict[str, Any]:
    body = {
        "created": 1757169743,
        "id": TASK_ID,
        "model": REQUEST["model"]["default"],
        "object": "video.generation.task",
        "progress": 0,
        "status": "pending",
    }
    return body | overrides


@pytest.fixture(scope="module")
def capture() -> Iterator[tuple[Client, Capture]]:
    handler = Capture()
    handler.answer(200, task_json())
    with Client(KEY, base_url=BASE, transport=httpx.MockTransport(handler), retry=NO_RETRY) as c:
        yield c, handler


def enum(name: str) -> list[Any]:
    return list(REQUEST[name]["enum"])


IMAGE_URLS = [None, list(REQUEST["image_urls"]["example"])]
CALLBACK_URLS = [None, REQUEST["callback_url"]["example"]]
CREATE_TABLE = list(
    itertools.product(*[[None, *enum(name)] for name in OPTIONAL_ENUMS], IMAGE_URLS, CALLBACK_URLS)
)


def test_every_create_the_client_sends_conforms(capture: tuple[Client, Capture]) -> None:
    client, handler = capture
    del handler.requests[:]
    for aspect_ratio, quality, duration, image_urls, callback_url in CREATE_TABLE:
        client.create_video(
            "A cat playing piano",
            aspect_ratio=aspect_ratio,
            quality=quality,
            duration=duration,
            image_urls=image_urls,
            callback_url=callback_url,
        )
    assert len(handler.requests) == len(CREATE_TABLE)
    bodies = [check_request(request) for request in handler.requests]
    for body, row in zip(bodies, CREATE_TABLE, strict=True):
        sent = dict(zip(OPTIONAL_ENUMS, row[:3], strict=True))
        sent |= {"image_urls": row[3], "callback_url": row[4]}
        expected = {k: v for k, v in sent.items() if v is not None}
        assert body == {"model": REQUEST["model"]["default"], "prompt": "A cat playing piano"} | (
            expected
        )


def test_the_task_query_conforms(capture: tuple[Client, Capture]) -> None:
    client, handler = capture
    del handler.requests[:]
    handler.answer(200, task_json())
    client.get_task(TASK_ID)
    [request] = handler.requests
    assert request.method == "GET"
    assert check_request(request) is None


def test_the_request_checker_has_teeth() -> None:
    """check_request is what the tests above rely on: it refuses what the spec refuses."""
    good = {"model": REQUEST["model"]["default"], "prompt": "A cat"}
    url = f"{BASE}/v1/videos/generations"
    auth = {"authorization": f"Bearer {KEY}", "accept": "application/json"}
    assert check_request(httpx.Request("POST", url, json=good, headers=auth)) == good
    bad: list[httpx.Request] = [
        httpx.Request("POST", url, json={**good, "duration": 5}, headers=auth),
        httpx.Request("POST", url, json={"prompt": "A cat"}, headers=auth),
        httpx.Request("POST", url, json=good, headers={**auth, "authorization": "Basic eDp5"}),
        httpx.Request("POST", url, json=good, headers={"accept": "application/json"}),
        httpx.Request("POST", url, data={"prompt": "A cat"}, headers=auth),
        httpx.Request("PUT", url, json=good, headers=auth),
        httpx.Request("GET", f"{BASE}/v1/tasks/not-a-task", headers=auth),
        httpx.Request("GET", f"{BASE}/v1/tasks/{TASK_ID}?verbose=1", headers=auth),
        httpx.Request("GET", f"{BASE}/v1/tasks/{TASK_ID}/extra", headers=auth),
    ]
    for request in bad:
        with pytest.raises((AssertionError, ValueError, pytest.fail.Exception)):
            check_request(request)


# Field values drawn from the spec: its enums, its length limits, URLs its `format: uri` accepts.
_HOST = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){1,3}", fullmatch=True)
_PATH = st.text(string.ascii_letters + string.digits + "-._~/", max_size=40)


def _urls(schemes: list[str], max_length: int | None = None) -> st.SearchStrategy[str]:
    urls = st.builds(
        lambda scheme, host, path: f"{scheme}://{host}/{path}",
        st.sampled_from(schemes),
        _HOST,
        _PATH,
    )
    return urls if max_length is None else urls.filter(lambda url: len(url) <= max_length)


def _maybe(name: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), strategy.map(lambda value: {name: value}))


_PROMPTS = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=200),
    st.integers(REQUEST["prompt"]["maxLength"] - 3, REQUEST["prompt"]["maxLength"]).map(
        lambda n: "é" * n
    ),
)
VALID_CREATE_ARGUMENTS = st.fixed_dictionaries(
    {"prompt": _PROMPTS, "model": st.sampled_from(enum("model"))}
).flatmap(
    lambda base: st.tuples(
        *[_maybe(name, st.sampled_from(enum(name))) for name in OPTIONAL_ENUMS],
        _maybe(
            "image_urls",
            st.lists(_urls(["http", "https"]), max_size=REQUEST["image_urls"]["maxItems"]),
        ),
        # HTTPS only and at most 2048 characters: the description's prose (and the overlay)
        _maybe("callback_url", _urls(["https"], REQUEST["callback_url"].get("maxLength", 2048))),
    ).map(lambda parts: base | {k: v for part in parts for k, v in part.items()})
)


@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`)
@settings(FIXED, max_examples=150)
@given(arguments=VALID_CREATE_ARGUMENTS)
def test_any_valid_create_conforms(arguments: dict[str, Any]) -> None:
    handler = Capture()
    handler.answer(200, task_json())
    body = build_create_body(**arguments)
    assert SPEC.request_errors(body) == []
    with Client(KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as client:
        client.create_video(**arguments)
    [request] = handler.requests
    assert check_request(request) == body
    assert body == {k: v for k, v in arguments.items() if v is not None}


# A value the spec refuses for each enum field, beside the ones it allows.
_WRONG = st.one_of(
    st.text(max_size=8),
    st.integers(-20, 2000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)


@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`)
@settings(FIXED, max_examples=150)
@given(
    name=st.sampled_from(OPTIONAL_ENUMS),
    value=st.data(),
)
def test_the_client_refuses_exactly_what_the_enums_refuse(name: str, value: st.DataObject) -> None:
    candidate = value.draw(st.one_of(st.sampled_from(enum(name)), _WRONG))
    body = {"model": REQUEST["model"]["default"], "prompt": "A cat", name: candidate}
    spec_accepts = is_valid({"$ref": "#/components/schemas/VideoGenerationRequest"}, body)
    refused: ValidationError | None = None
    try:
        build_create_body("A cat", **{name: candidate})  # type: ignore[arg-type]
    except ValidationError as exc:
        refused = exc
    assert (refused is None) == spec_accepts, (name, candidate)
    if refused is not None:
        assert refused.param == name


@pytest.mark.parametrize("extra", [0, 1])
def test_the_client_refuses_exactly_the_prompts_the_spec_refuses(extra: int) -> None:
    """maxLength counts characters, not bytes: "é" is two bytes in UTF-8."""
    prompt = "é" * (REQUEST["prompt"]["maxLength"] + extra)
    spec_accepts = (
        SPEC.request_errors({"model": REQUEST["model"]["default"], "prompt": prompt}) == []
    )
    assert spec_accepts == (extra == 0)
    if spec_accepts:
        assert build_create_body(prompt)["prompt"] == prompt
    else:
        with pytest.raises(ValidationError) as info:
            build_create_body(prompt)
        assert info.value.param == "prompt"


@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`)
@settings(FIXED, max_examples=100)
@given(task_id=st.data())
def test_any_task_id_the_spec_allows_is_sent_as_one_path_segment(task_id: st.DataObject) -> None:
    param = next(p for p in SPEC.operation(QUERY)["parameters"] if p["name"] == "task_id")
    value = task_id.draw(strategy(param["schema"]))
    handler = Capture()
    handler.answer(200, task_json())
    with Client(KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as client:
        client.get_task(value)
    [request] = handler.requests
    check_request(request)
    _, params = find_operation("GET", request.url.raw_path.decode("ascii"))
    assert params == {"task_id": value}


# -- responses -------------------------------------------------------------------------------------


@cache
def _strategy(schema_json: str) -> st.SearchStrategy[Any]:
    schema = {**json.loads(schema_json), "components": DOC["components"]}
    return build(
        schema,
        draft=jsonschema_rs.Draft202012,
        formats=get_default_format_strategies(),
        # JSON Schema counts 2.0 as an integer, and a JSON body may spell one so
        whole_floats=True,
    )


def strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values `schema` admits, from schemathesis's generator (no hypothesis-jsonschema needed)."""
    return _strategy(json.dumps(schema, sort_keys=True))


def _responses() -> Iterator[tuple[str, int, dict[str, Any]]]:
    for operation_id in (CREATE, QUERY):
        for status, response in SPEC.operation(operation_id)["responses"].items():
            yield operation_id, int(status), response["content"]["application/json"]["schema"]


RESPONSES = list(_responses())
CALLS: dict[str, Callable[[Client], Task]] = {
    CREATE: lambda client: client.create_video("A cat playing piano"),
    QUERY: lambda client: client.get_task(TASK_ID),
}


def test_every_operation_has_a_call_and_documented_responses() -> None:
    assert {op for op, _, _ in RESPONSES} == set(CALLS)
    for operation_id in CALLS:
        statuses = {s for op, s, _ in RESPONSES if op == operation_id}
        assert 200 in statuses
        assert statuses - {200} == set(SPEC.errors[operation_id])


def _without_empty_results(body: dict[str, Any]) -> dict[str, Any]:
    """Task.to_json leaves out an empty `results`, which means the same as none."""
    return {k: v for k, v in body.items() if not (k == "results" and v == [])}


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Client, Capture]]:
    handler = Capture()
    with Client(KEY, base_url=BASE, transport=httpx.MockTransport(handler), retry=NO_RETRY) as c:
        yield c, handler


SUCCESSES = [r for r in RESPONSES if r[1] < 400]
ERRORS = [r for r in RESPONSES if r[1] >= 400]
GENERATED = settings(
    FIXED,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


@pytest.mark.parametrize(
    ("operation_id", "status", "schema"),
    SUCCESSES,
    ids=[f"{op}-{status}" for op, status, _ in SUCCESSES],
)
@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`)
@settings(GENERATED, max_examples=150)
@given(data=st.data())
def test_any_documented_success_is_parsed_into_a_task(
    served: tuple[Client, Capture],
    operation_id: str,
    status: int,
    schema: dict[str, Any],
    data: st.DataObject,
) -> None:
    client, handler = served
    body = data.draw(strategy(schema), label="body")
    validate(schema, body)  # the generator keeps to the spec: these are bodies the API may send
    handler.answer(status, body)
    task = CALLS[operation_id](client)
    assert isinstance(task, Task)
    assert (task.id, task.status.value, task.progress, task.created, task.model) == (
        body["id"],
        body["status"],
        body["progress"],
        body["created"],
        body["model"],
    )
    assert type(task.progress) is int
    assert type(task.created) is int
    # nothing lost, nothing invented: unknown fields are kept in `extra`, known ones typed
    assert task.to_json() == _without_empty_results(body)


@pytest.mark.parametrize(
    ("operation_id", "status", "schema"),
    ERRORS,
    ids=[f"{op}-{status}" for op, status, _ in ERRORS],
)
@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`)
@settings(GENERATED, max_examples=50)
@given(data=st.data())
def test_any_documented_error_raises_its_class(
    served: tuple[Client, Capture],
    operation_id: str,
    status: int,
    schema: dict[str, Any],
    data: st.DataObject,
) -> None:
    client, handler = served
    body = data.draw(strategy(schema), label="body")
    validate(schema, body)
    handler.answer(status, body)
    sent = len(handler.requests)
    with pytest.raises(APIStatusError) as info:
        CALLS[operation_id](client)
    error = info.value
    envelope = body["error"]
    assert type(error) is expected_class(status)
    assert (error.status, error.raw) == (status, handler.content.decode("ascii"))
    assert error.code == (envelope["code"] or None)
    assert error.type == (envelope["type"] or None)
    assert error.param == (envelope.get("param") or None)
    if envelope["message"]:
        assert error.message == envelope["message"]
    assert error.message  # never empty: without one, the client describes the response
    assert len(handler.requests) == sent + 1  # NO_RETRY: one request, one answer


def test_an_integer_spelled_as_a_whole_float_is_an_integer() -> None:
    """JSON Schema, and so the spec, counts 50.0 as an integer; the client read it as a float
    and refused the body (found by the generated responses above)."""
    task = Task.from_json(task_json(progress=50.0, created=1757169743.0, status="processing"))
    assert (task.progress, task.created) == (50, 1757169743)
    assert type(task.progress) is int
    assert type(task.created) is int
    with pytest.raises(UnexpectedResponseError, match="progress"):
        Task.from_json(task_json(progress=12.5))


#: The body's fields; `replayed` is read from a header (`Idempotency-Replayed`), not the body.
TYPED_FIELDS = sorted(
    f.name for f in dataclasses.fields(Task) if f.name not in ("extra", "replayed")
)


@pytest.mark.parametrize(
    "operation_id",
    [
        QUERY,
        CREATE,
    ],
)
def test_every_field_the_client_types_is_declared_by_the_response(operation_id: str) -> None:
    """A field the client parses strictly but the spec leaves free-form is a body the spec allows
    and the client refuses."""
    schema = SPEC.operation(operation_id)["responses"]["200"]["content"]["application/json"]
    name = schema["schema"]["$ref"].rsplit("/", 1)[-1]
    declared = DOC["components"]["schemas"][name]["properties"]
    assert [f for f in TYPED_FIELDS if f not in declared] == []


# -- the gateway's reads of many: the task list, the batch read, the models ------------------------

BULK_CALLS: dict[str, Callable[[Client], list[Any]]] = {
    LIST_TASKS: lambda client: client.list_tasks(
        status="processing", type="video", model="sora-2-preview", limit=1, page_size=50
    ),
    BATCH_TASKS: lambda client: client.get_tasks([TASK_ID]),
    LIST_MODELS: lambda client: client.models(),
}
EMPTY = {
    LIST_TASKS: {"data": [], "total": 0, "page": 1, "page_size": 50},
    BATCH_TASKS: {"data": []},
    LIST_MODELS: {"data": []},
}


def success_schema(operation_id: str) -> dict[str, Any]:
    schema: dict[str, Any] = SPEC.operation(operation_id)["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return schema


@pytest.mark.parametrize("operation_id", sorted(BULK_CALLS))
def test_every_bulk_read_the_client_sends_conforms(
    served: tuple[Client, Capture], operation_id: str
) -> None:
    client, handler = served
    del handler.requests[:]
    handler.answer(200, EMPTY[operation_id])

    BULK_CALLS[operation_id](client)

    [request] = handler.requests
    check_request(request)
    operation, _ = find_operation(request.method, request.url.path)
    params = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
    for name, value in request.url.params.items():  # each value one its schema allows
        schema = params[name]
        validate(schema, int(value) if schema.get("type") == "integer" else value)


#: what each call reads each item of its answer into
BULK_ITEMS: dict[str, type] = {LIST_TASKS: TaskSummary, BATCH_TASKS: Task, LIST_MODELS: Model}


@pytest.mark.parametrize("operation_id", sorted(BULK_CALLS))
@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`)
@settings(GENERATED, max_examples=100)
@given(data=st.data())
def test_any_documented_bulk_answer_is_parsed(
    served: tuple[Client, Capture], operation_id: str, data: st.DataObject
) -> None:
    client, handler = served
    schema = success_schema(operation_id)
    body = data.draw(strategy(schema), label="body")
    validate(schema, body)
    handler.answer(200, body)

    found = BULK_CALLS[operation_id](client)

    ids = list(dict.fromkeys(item["id"] for item in body["data"]))
    expected = ids[:1] if operation_id == LIST_TASKS else [item["id"] for item in body["data"]]
    assert [item.id for item in found] == expected
    assert all(isinstance(item, BULK_ITEMS[operation_id]) for item in found)


@pytest.mark.parametrize(("cls", "schema"), [(TaskSummary, "TaskListItem"), (Model, "ModelEntry")])
def test_every_field_a_bulk_item_types_is_declared(cls: type, schema: str) -> None:
    declared = DOC["components"]["schemas"][schema]["properties"]
    typed = [f.name for f in dataclasses.fields(cls) if f.name != "extra"]
    assert [name for name in typed if name not in declared] == []
