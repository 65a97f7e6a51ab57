"""Task bodies: strict about the required fields and known types, tolerant of new fields."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from evolink_client import (
    Credits,
    Task,
    TaskError,
    TaskInfo,
    TaskStatus,
    UnexpectedResponseError,
    Usage,
)
from mockserver.spec import CREDITS_FILE, spec_dir

from ..client_fixtures import VIDEO_URL, completed_body, failed_body, task_body


def test_documented_body_parses_into_typed_fields() -> None:
    task = Task.from_json(completed_body())
    assert task.status is TaskStatus.COMPLETED
    assert (task.progress, task.created, task.model) == (100, 1757169743, "sora-2-pro-preview")
    assert task.results == (VIDEO_URL,)
    assert task.result_url == VIDEO_URL
    assert task.task_info == TaskInfo(can_cancel=True, estimated_time=45, video_duration=4)
    assert task.usage == Usage(
        billing_rule="per_second", credits_reserved=7.0, user_group="default"
    )
    assert isinstance(task.usage.credits_reserved, float)
    assert task.done


def test_an_ended_tasks_charge_and_duration_are_typed_and_round_trip() -> None:
    body = completed_body(duration=45)
    body["usage"]["credits_used"] = 69.12
    task = Task.from_json(body)

    assert task.usage is not None
    assert (task.usage.credits_used, task.duration) == (69.12, 45)
    assert task.usage.extra == {}
    assert task.extra == {}
    assert task.to_json() == body | {"usage": body["usage"] | {"credits_reserved": 7.0}}


def test_failed_body_carries_the_task_error() -> None:
    task = Task.from_json(failed_body("generation_timeout"))
    assert task.status is TaskStatus.FAILED
    assert task.error == TaskError(
        code="generation_timeout", message="Content policy violation.", type="task_error"
    )
    assert task.done
    assert task.result_url is None


def test_docs_failed_example_without_error_type_parses() -> None:
    # the error-codes page's example of a failed task has no `type` in its error
    body = failed_body()
    body["error"] = {"code": "content_policy_violation", "message": "Content policy violation."}
    assert Task.from_json(body).error == TaskError(
        "content_policy_violation", "Content policy violation."
    )


def test_unknown_fields_are_kept_in_extra_at_every_level() -> None:
    body = task_body(eta_ms=1200, task_info={"can_cancel": True, "queue_position": 3})
    body["usage"]["currency"] = "credits"
    task = Task.from_json(body)
    assert task.extra == {"eta_ms": 1200}
    assert task.task_info is not None
    assert task.task_info.extra == {"queue_position": 3}
    assert task.usage is not None
    assert task.usage.extra == {"currency": "credits"}
    with pytest.raises(TypeError):
        task.extra["eta_ms"] = 0  # type: ignore[index]


def test_to_json_round_trips_known_and_unknown_fields() -> None:
    body = completed_body(eta_ms=1200)
    body["usage"]["currency"] = "credits"
    assert Task.from_json(body).to_json() == body | {
        "usage": body["usage"] | {"credits_reserved": 7.0}
    }


def test_tasks_are_frozen() -> None:
    task = Task.from_json(task_body())
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.status = TaskStatus.COMPLETED  # type: ignore[misc]


def test_null_optional_fields_are_absent() -> None:
    task = Task.from_json(
        task_body(results=None, error=None, task_info=None, usage=None, type=None)
    )
    assert (task.results, task.error, task.task_info, task.usage, task.type) == (
        (),
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("field", ["id", "object", "status", "progress", "created", "model"])
def test_missing_required_field_raises_with_raw_text(field: str) -> None:
    body = task_body()
    del body[field]
    raw = json.dumps(body)
    with pytest.raises(UnexpectedResponseError, match=field) as info:
        Task.from_json(body, raw=raw)
    assert info.value.raw == raw


BAD_VALUES: list[tuple[str, dict[str, Any]]] = [
    ("progress-string", {"progress": "50"}),
    ("progress-bool", {"progress": True}),
    ("progress-over-100", {"progress": 101}),
    ("progress-negative", {"progress": -1}),
    ("status-unknown", {"status": "queued"}),
    ("created-float-string", {"created": "1757169743"}),
    ("id-number", {"id": 42}),
    ("results-string", {"results": VIDEO_URL}),
    ("results-numbers", {"results": [1]}),
    ("task_info-list", {"task_info": []}),
    ("usage-credits-bool", {"usage": {"credits_reserved": True}}),
    ("error-without-code", {"error": {"message": "m"}}),
]


@pytest.mark.parametrize("override", [v for _, v in BAD_VALUES], ids=[i for i, _ in BAD_VALUES])
def test_wrongly_typed_known_field_is_unexpected(override: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedResponseError):
        Task.from_json(task_body(**override), raw="raw")


@pytest.mark.parametrize("data", [[], "task", None, 3], ids=["list", "str", "null", "int"])
def test_non_object_is_unexpected(data: object) -> None:
    with pytest.raises(UnexpectedResponseError, match="JSON object"):
        Task.from_json(data)


def test_status_terminal_flags() -> None:
    assert [s.terminal for s in TaskStatus] == [False, False, True, True]
    assert TaskStatus("processing") == "processing"


def credits_example() -> dict[str, Any]:
    """The 200 example of the vendored credits page."""
    page = json.loads((spec_dir() / CREDITS_FILE).read_text(encoding="utf-8"))
    example: dict[str, Any] = page["paths"]["/v1/credits"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["example"]
    return example


def test_the_credits_pages_example_parses_into_typed_fields() -> None:
    credits = Credits.from_json(credits_example())

    assert credits == Credits(
        remaining=1095.3996,
        used=583.5571,
        unlimited=False,
        token_remaining=99416.4429,
        account_used=135.9048,
        message="",
    )


BAD_CREDITS: list[tuple[str, Any, str]] = [
    ("refused", {"success": False, "message": "key disabled", "data": None}, "key disabled"),
    ("refused-silently", {"success": False}, "no message"),
    ("no-success", {"message": "", "data": credits_example()["data"]}, "success"),
    ("bare-balance", credits_example()["data"], "success"),
    ("no-data", {"success": True, "message": ""}, "data.user"),
    ("no-token", {**credits_example(), "data": {"user": {}}}, "data.token"),
    (
        "no-used",
        {**credits_example(), "data": {"user": {}, "token": {"unlimited_credits": True}}},
        "data.token.used_credits",
    ),
]


@pytest.mark.parametrize(
    ("data", "match"), [(d, m) for _, d, m in BAD_CREDITS], ids=[i for i, _, _ in BAD_CREDITS]
)
def test_a_credits_body_outside_the_vendors_envelope_is_unexpected(data: Any, match: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=match) as info:
        Credits.from_json(data, raw="raw")
    assert info.value.raw == "raw"
