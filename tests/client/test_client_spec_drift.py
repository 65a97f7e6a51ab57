"""The client keeps its own copies of the spec's enums and limits; these fail when they drift."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evolink_client import TaskStatus, _constants
from mockserver import load_spec
from mockserver.spec import (
    CREATE,
    FILE_PAGES,
    LIST_TASKS,
    QUERY,
    UPLOAD_BASE64,
    UPLOAD_STREAM,
    UPLOAD_URL,
    spec_dir,
)


def schema(name: str) -> dict[str, Any]:
    found: dict[str, Any] = load_spec().document["components"]["schemas"][name]
    return found


@pytest.mark.parametrize(
    ("prop", "ours"),
    [
        ("aspect_ratio", _constants.ASPECT_RATIOS),
        ("duration", _constants.DURATIONS),
        ("quality", _constants.QUALITIES),
    ],
)
def test_the_default_models_enums_match_the_spec(prop: str, ours: tuple[object, ...]) -> None:
    assert list(ours) == load_spec().enum(prop)


def test_the_clients_models_are_the_specs() -> None:
    assert load_spec().models == _constants.MODELS


@pytest.mark.parametrize("model", load_spec().models)
def test_each_models_choices_are_its_pages(model: str) -> None:
    properties = load_spec().request_schemas[model]["properties"]
    pages = {
        name: tuple(properties[name]["enum"])
        for name in ("aspect_ratio", "duration", "quality")
        if name in properties
    }
    assert _constants.CHOICES[model] == pages


def test_default_model_is_the_specs_default() -> None:
    assert load_spec().request_property("model")["default"] == _constants.MODEL


def test_prompt_limit_matches_the_spec() -> None:
    assert load_spec().request_property("prompt")["maxLength"] == _constants.PROMPT_MAX_LENGTH


def test_image_urls_limit_matches_the_spec() -> None:
    assert load_spec().request_property("image_urls")["maxItems"] == _constants.IMAGE_URLS_MAX_ITEMS


def test_callback_url_rules_match_the_specs_prose() -> None:
    prop = load_spec().request_property("callback_url")
    # the schema has no maxLength; the vendor states the limit and HTTPS-only in the description
    assert (
        prop.get("maxLength", _constants.CALLBACK_URL_MAX_LENGTH)
        == _constants.CALLBACK_URL_MAX_LENGTH
    )
    assert f"`{_constants.CALLBACK_URL_MAX_LENGTH}`" in prop["description"]
    assert "HTTPS" in prop["description"]


@pytest.mark.parametrize("model", load_spec().models)
def test_required_request_fields_are_what_the_client_always_sends(model: str) -> None:
    assert set(schema(f"VideoGenerationRequest.{model}")["required"]) == {"model", "prompt"}


@pytest.mark.parametrize("name", ["VideoGenerationResponse", "TaskDetailResponse"])
def test_task_statuses_and_object_match_the_spec(name: str) -> None:
    props = schema(name)["properties"]
    assert [s.value for s in TaskStatus] == props["status"]["enum"]
    assert props["object"]["enum"] == [_constants.TASK_OBJECT]


@pytest.mark.parametrize("name", ["VideoGenerationResponse", "TaskDetailResponse"])
def test_required_task_fields_match_the_spec(name: str) -> None:
    from evolink_client import Task, UnexpectedResponseError

    required = set(schema(name)["required"])
    assert required == {"id", "object", "status", "progress", "created", "model"}
    for field in required:
        body = {
            "id": "t",
            "object": "o",
            "status": "pending",
            "progress": 0,
            "created": 1,
            "model": "m",
        }
        del body[field]
        with pytest.raises(UnexpectedResponseError):
            Task.from_json(body)


def test_paths_and_server_match_the_spec() -> None:
    spec = load_spec()
    paths = spec.document["paths"]
    assert paths[_constants.CREATE_PATH]["post"]["operationId"] == CREATE
    assert paths[_constants.TASK_PATH]["get"]["operationId"] == QUERY
    assert spec.document["servers"][0]["url"] == _constants.DEFAULT_BASE_URL


def _list_parameter(name: str) -> dict[str, Any]:
    operation = load_spec().operation(LIST_TASKS)
    schema: dict[str, Any] = next(p["schema"] for p in operation["parameters"] if p["name"] == name)
    return schema


def test_the_listings_filters_and_page_limits_match_the_spec() -> None:
    assert list(_constants.LIST_STATUSES) == _list_parameter("status")["enum"]
    assert list(_constants.LIST_TYPES) == _list_parameter("type")["enum"]
    assert _list_parameter("page_size")["maximum"] == _constants.LIST_PAGE_SIZE_MAX
    assert _list_parameter("page")["maximum"] == _constants.LIST_PAGE_MAX


def test_the_batch_limits_match_the_spec() -> None:
    ids = schema("TaskBatchRequest")["properties"]["task_ids"]
    assert ids["maxItems"] == _constants.BATCH_MAX_IDS
    assert ids["items"]["pattern"] == f"^{_constants.TASK_ID_PREFIX}"


def test_the_gateway_paths_are_the_specs() -> None:
    paths = load_spec().document["paths"]
    assert "get" in paths[_constants.TASKS_PATH]
    assert "post" in paths[_constants.TASKS_BATCH_PATH]
    assert "get" in paths[_constants.MODELS_PATH]


def test_the_upload_paths_and_the_files_host_are_the_pages() -> None:
    paths = load_spec().document["paths"]
    uploads = {
        _constants.UPLOAD_BASE64_PATH: UPLOAD_BASE64,
        _constants.UPLOAD_STREAM_PATH: UPLOAD_STREAM,
        _constants.UPLOAD_URL_PATH: UPLOAD_URL,
    }
    for path, operation_id in uploads.items():
        assert paths[path]["post"]["operationId"] == operation_id
    page = json.loads((spec_dir() / FILE_PAGES[0]).read_text(encoding="utf-8"))
    assert page["servers"][0]["url"] == _constants.DEFAULT_FILES_BASE_URL
