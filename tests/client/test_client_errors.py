"""Every documented error of every operation maps to its class; odd bodies never break parsing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from contract_tests.oracle import expected_class
from evolink_client import (
    NO_RETRY,
    APIStatusError,
    AuthenticationError,
    Client,
    EvolinkError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskNotFoundError,
    UnexpectedResponseError,
)
from mockserver import load_spec
from mockserver.spec import DocumentedError

from ..client_fixtures import (
    API_KEY,
    BASE,
    CREATE_URL,
    CREDITS_URL,
    TASK_ID,
    TASK_URL,
    FakeTime,
    make_client,
)

CALLS: dict[str, tuple[str, Callable[[Client], object]]] = {
    "createVideoGeneration": (CREATE_URL, lambda c: c.create_video("A cat playing piano")),
    "getTaskDetail": (TASK_URL, lambda c: c.get_task(TASK_ID)),
    "getCredits": (CREDITS_URL, lambda c: c.get_credits()),
    "listTasks": (f"{BASE}/v1/tasks", lambda c: c.list_tasks()),
    "getTasksBatch": (f"{BASE}/v1/tasks/batch", lambda c: c.get_tasks([TASK_ID])),
    "listModels": (f"{BASE}/v1/models", lambda c: c.models()),
}
#: the calls made with a body
POSTED = {CREATE_URL, f"{BASE}/v1/tasks/batch"}

DOCUMENTED = [
    (operation, error)
    for operation, errors in sorted(load_spec().errors.items())
    for error in errors.values()
]


def route_for(router: respx.MockRouter, url: str) -> respx.Route:
    return router.post(url) if url in POSTED else router.get(url)


def test_every_documented_operation_has_a_client_call() -> None:
    spec = load_spec()
    assert set(spec.errors) - spec.public == set(CALLS)


@pytest.mark.parametrize(
    ("operation", "documented"),
    DOCUMENTED,
    ids=[f"{op}-{e.status}-{e.code}" for op, e in DOCUMENTED],
)
def test_documented_error_maps_to_its_class(operation: str, documented: DocumentedError) -> None:
    envelope: dict[str, Any] = {
        "code": documented.code,
        "message": documented.message,
        "type": documented.type,
    }
    if documented.param:
        envelope["param"] = documented.param
    url, call = CALLS[operation]
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        route_for(router, url).respond(
            documented.status, json={"error": envelope}, headers={"x-request-id": "req-42"}
        )
        with pytest.raises(expected_class(documented.status)) as info:
            call(client)
    error = info.value
    assert (error.status, error.code, error.type) == (
        documented.status,
        documented.code,
        documented.type,
    )
    assert error.message == documented.message
    assert error.param == documented.param
    assert error.request_id == "req-42"
    assert documented.code in error.raw
    assert documented.code in str(error)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(403, PermissionDeniedError), (502, ServerError), (503, ServerError), (504, ServerError)],
    ids=["403-model_access_denied-on-query", "502", "503", "504"],
)
def test_status_decides_the_class_whatever_the_code(
    status: int, expected: type[APIStatusError]
) -> None:
    body = {"error": {"code": "model_access_denied", "message": "m", "type": "x"}}
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).respond(status, json=body)
        with pytest.raises(expected):
            client.get_task(TASK_ID)


def test_undocumented_4xx_is_the_base_status_error() -> None:
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).respond(409, json={"error": {"code": "conflict", "message": "m"}})
        with pytest.raises(APIStatusError) as info:
            client.get_task(TASK_ID)
    assert type(info.value) is APIStatusError
    assert info.value.code == "conflict"


ODD_BODIES = [
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", ServerError, "text/html"),
    (500, "", ServerError, "application/json"),
    (400, '{"error": {"code": "invalid_request", "mess', InvalidRequestError, "application/json"),
    (404, '[{"error": "task_not_found"}]', TaskNotFoundError, "application/json"),
    (401, '{"error": "unauthorized"}', AuthenticationError, "application/json"),
    (429, '{"error": {"code": 429, "message": ["no"]}}', RateLimitError, "application/json"),
]


@pytest.mark.parametrize(
    ("status", "text", "expected", "content_type"),
    ODD_BODIES,
    ids=["html-502", "empty-500", "truncated-400", "list-404", "string-401", "typed-429"],
)
def test_odd_error_body_raises_by_status_and_keeps_raw(
    status: int, text: str, expected: type[APIStatusError], content_type: str
) -> None:
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).respond(status, text=text, headers={"content-type": content_type})
        with pytest.raises(expected) as info:
            client.get_task(TASK_ID)
    error = info.value
    assert error.status == status
    assert error.raw == text
    assert error.code is None
    assert error.message  # a readable message even with no envelope
    assert str(status) in str(error)


@pytest.mark.parametrize(
    "text",
    ["<html>200 OK from a captive portal</html>", "", '{"id": "task-unified-1-a", ', "[]", "null"],
    ids=["html", "empty", "truncated", "list", "null"],
)
def test_odd_success_body_is_unexpected_response(text: str) -> None:
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).respond(200, text=text)
        with pytest.raises(UnexpectedResponseError) as info:
            client.get_task(TASK_ID)
    assert info.value.raw == text
    assert info.value.status == 200
    assert isinstance(info.value, EvolinkError)


def test_error_without_request_id_header_has_none() -> None:
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).respond(404, json={"error": {"code": "task_not_found"}})
        with pytest.raises(TaskNotFoundError) as info:
            client.get_task(TASK_ID)
    assert info.value.request_id is None


def test_api_key_never_in_error_text() -> None:
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).respond(401, json={"error": {"code": "unauthorized", "message": "no"}})
        with pytest.raises(AuthenticationError) as info:
            client.get_task(TASK_ID)
    for text in (str(info.value), repr(info.value), info.value.raw):
        assert API_KEY not in text


def test_transport_error_is_wrapped_and_chained_without_the_key() -> None:
    with respx.mock() as router, make_client(FakeTime(), retry=NO_RETRY) as client:
        router.get(TASK_URL).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(EvolinkError) as info:
            client.get_task(TASK_ID)
    assert not isinstance(info.value, httpx.HTTPError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)


def test_base_url_path_prefix_is_kept() -> None:
    with respx.mock() as router, Client(API_KEY, base_url=f"{BASE}/proxy/", retry=NO_RETRY) as c:
        route = router.get(f"{BASE}/proxy/v1/tasks/{TASK_ID}").respond(
            404, json={"error": {"code": "task_not_found"}}
        )
        with pytest.raises(TaskNotFoundError):
            c.get_task(TASK_ID)
    assert route.call_count == 1
