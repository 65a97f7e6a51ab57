"""The merged OpenAPI document: valid, vendored verbatim, and carrying what the facts say."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from mockserver.spec import (
    CREDITS_FILE,
    FILE_PAGES,
    VENDOR_FILE,
    deep_merge,
    load_spec,
    merge_into,
    spec_dir,
)

from ..bodies import MODEL, PROMPT, create_body

SPEC = load_spec()
SEED = (
    Path(__file__).resolve().parents[3] / "shared" / "seed" / "sora-2-pro-preview-video-generate.md"
)


def test_the_merged_document_is_valid_openapi_3_1() -> None:
    validate(SPEC.document)  # raises on any violation


def recorded(name: str) -> dict[str, str]:
    """What the README's section on a vendored file records: `sha256`, `git blob`, ..."""
    readme = (spec_dir() / "README.md").read_text(encoding="utf-8")
    section = re.search(rf"^### `{re.escape(name)}`\n(.*?)(?=^#|\Z)", readme, re.S | re.M)
    assert section is not None, f"README.md has no section on {name}"
    return dict(re.findall(r"^- ([\w ]+): `([0-9a-f]+)`", section.group(1), re.M))


PREVIEW_PAGES = [
    "vendor/sora-2-preview-video-generate.cn.json",
    "vendor/sora-2-preview-video-generate.en.json",
]
#: vendored from the docs source repository, each with the git blob id of its file there
FROM_DOCS_SOURCE = [CREDITS_FILE, *PREVIEW_PAGES, *FILE_PAGES]


def test_every_vendored_file_has_its_section_in_the_readme() -> None:
    vendored = sorted(f"vendor/{path.name}" for path in (spec_dir() / "vendor").iterdir())

    assert vendored == sorted([VENDOR_FILE, *FROM_DOCS_SOURCE])
    assert all("sha256" in recorded(name) for name in vendored)


@pytest.mark.parametrize("name", [VENDOR_FILE, *FROM_DOCS_SOURCE])
def test_the_vendored_file_matches_the_checksum_recorded_in_the_readme(name: str) -> None:
    data = (spec_dir() / name).read_bytes()

    assert hashlib.sha256(data).hexdigest() == recorded(name)["sha256"]


@pytest.mark.parametrize("name", FROM_DOCS_SOURCE)
def test_the_page_is_the_docs_sources_file_at_the_recorded_commit(name: str) -> None:
    """Git names a file by a hash of its bytes: the recorded blob id is what `git rev-parse
    COMMIT:PATH` prints in the vendor's docs repository, so equal ids mean equal bytes."""
    data = (spec_dir() / name).read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()

    assert blob == recorded(name)["git blob"]


def test_each_model_is_validated_by_its_own_page() -> None:
    schemas = SPEC.document["components"]["schemas"]
    refs = {m: f"#/components/schemas/VideoGenerationRequest.{m}" for m in SPEC.models}

    assert SPEC.models == ("sora-2-pro-preview", "sora-2-preview")
    assert schemas["VideoGenerationRequest"]["oneOf"] == [{"$ref": r} for r in refs.values()]
    assert schemas["VideoGenerationRequest"]["discriminator"] == {
        "propertyName": "model",
        "mapping": refs,
    }
    assert SPEC.enum("aspect_ratio", "sora-2-preview") == ["1280x720", "720x1280", "16:9", "9:16"]
    assert "quality" not in SPEC.request_schemas["sora-2-preview"]["properties"]
    assert SPEC.enum("duration", "sora-2-preview") == [4, 8, 12]
    page = json.loads((spec_dir() / PREVIEW_PAGES[0]).read_text(encoding="utf-8"))
    served = SPEC.request_schemas["sora-2-preview"]
    vendor = page["components"]["schemas"]["VideoGenerationRequest"]
    # the page's own schema, but for the enum of duration and the overlay's callback rules
    assert {
        k: v for k, v in served["properties"].items() if k not in ("duration", "callback_url")
    } == {k: v for k, v in vendor["properties"].items() if k not in ("duration", "callback_url")}


def test_the_credits_response_is_the_vendored_pages_untouched() -> None:
    page = json.loads((spec_dir() / CREDITS_FILE).read_text(encoding="utf-8"))
    schemas = SPEC.document["components"]["schemas"]
    operation = SPEC.operation("getCredits")

    assert schemas["CreditsResponse"] == page["components"]["schemas"]["CreditsResponse"]
    assert operation["responses"]["200"] == page["paths"]["/v1/credits"]["get"]["responses"]["200"]
    # its integer-code ErrorResponse is left out: the create page's, with string codes, stands
    assert schemas["ErrorResponse"]["properties"]["error"]["properties"]["code"]["type"] == "string"


@pytest.mark.skipif(not SEED.exists(), reason="the seed page is not beside this checkout")
def test_the_vendored_file_is_the_seed_pages_block_verbatim() -> None:
    page = SEED.read_text(encoding="utf-8")
    block = re.search(r"````yaml [^\n]*\n(.*?)\n````", page, re.S)
    assert block is not None
    assert (spec_dir() / VENDOR_FILE).read_text(encoding="utf-8") == block.group(1) + "\n"


def test_the_tests_create_body_is_the_minimal_valid_one() -> None:
    body = create_body()

    assert sorted(body) == sorted(SPEC.request_schema["required"])
    assert (
        SPEC.request_property("model")["default"],
        SPEC.request_property("prompt")["example"],
    ) == (MODEL, PROMPT)
    assert SPEC.request_errors(body) == []
    assert create_body(duration=8, prompt="a dog") == {
        "model": MODEL,
        "prompt": "a dog",
        "duration": 8,
    }


def test_duration_is_restricted_to_what_the_prose_allows() -> None:
    assert SPEC.enum("duration") == [4, 8, 12]
    assert SPEC.enum("aspect_ratio") == ["16:9", "9:16"]  # the vendor's, untouched


def test_the_create_response_links_its_id_to_the_query() -> None:
    link = SPEC.operation("createVideoGeneration")["responses"]["200"]["links"]["GetTaskDetail"]
    assert link == {
        "operationId": "getTaskDetail",
        "parameters": {"task_id": "$response.body#/id"},
        "description": link["description"],
    }


# The task-query page's error table (facts file, section 2), typed out here on purpose: the test
# must fail if the overlay drifts from the vendor's documentation.
QUERY_ERRORS = {
    400: (
        "invalid_task_id",
        "invalid_request_error",
        "Invalid task ID format, must start with 'task-unified-'",
    ),
    401: ("unauthorized", "authentication_error", "Authentication required"),
    402: (
        "quota_exceeded",
        "insufficient_quota",
        "Insufficient quota. Please top up your account.",
    ),
    403: (
        "permission_denied",
        "invalid_request_error",
        "You don't have permission to access this task",
    ),
    404: ("task_not_found", "invalid_request_error", "The requested task could not be found"),
    429: ("rate_limit_exceeded", "evo_api_error", "Rate limit exceeded"),
    500: ("internal_error", "api_error", "Failed to retrieve task status"),
}
CREATE_ERRORS = {
    400: ("invalid_request", "invalid_request_error", "Invalid request parameters"),
    401: ("unauthorized", "authentication_error", "Invalid or expired token"),
    402: (
        "insufficient_quota",
        "insufficient_quota",
        "Insufficient quota. Please top up your account.",
    ),
    403: (
        "model_access_denied",
        "invalid_request_error",
        "Token does not have access to model: sora-2-pro-preview",
    ),
    429: ("rate_limit_exceeded", "rate_limit_error", "Too many requests, please try again later"),
    500: ("internal_error", "api_error", "Internal server error"),
}
#: The create's errors the overlay adds (openapi/README.md): the vendor's client knows the code.
AUTHORED_CREATE_ERRORS = {
    422: (
        "idempotency_conflict",
        "invalid_request_error",
        "Idempotency-Key 'k1' was already used with another request: it belongs to task "
        "task-unified-1757169743-7cvnl5zw. Send a new key for a new request",
    ),
}

# The credits page's error table, its integer codes replaced by the mock's strings (README.md).
CREDITS_ERRORS = {
    400: ("invalid_request", "invalid_request_error", "Invalid request"),
    401: ("unauthorized", "authentication_error", "Invalid or expired token"),
    403: ("permission_denied", "permission_error", "Access denied"),
    429: ("rate_limit_exceeded", "rate_limit_error", "Rate limit exceeded"),
    500: ("internal_error", "internal_server_error", "Internal server error"),
    502: ("upstream_error", "upstream_error", "Upstream service error"),
    503: ("service_unavailable", "service_unavailable_error", "Service temporarily unavailable"),
}


@pytest.mark.parametrize(
    ("operation_id", "table"),
    [
        ("getTaskDetail", QUERY_ERRORS),
        ("createVideoGeneration", {**CREATE_ERRORS, **AUTHORED_CREATE_ERRORS}),
        ("getCredits", CREDITS_ERRORS),
    ],
    ids=["query", "create", "credits"],
)
def test_documented_errors_are_exactly_the_vendors(
    operation_id: str, table: dict[int, tuple[str, str, str]]
) -> None:
    errors = SPEC.errors[operation_id]
    assert {status: (e.code, e.type, e.message) for status, e in errors.items()} == table


def test_the_400_of_the_query_names_its_param() -> None:
    assert SPEC.errors["getTaskDetail"][400].param == "task_id"


@pytest.mark.parametrize(
    ("base", "overlay", "merged"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}, {"a": {"b": 1, "c": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"b": {"c": 1}}, {"a": 1, "b": {"c": 1}}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": None}, "d": None}, {"a": {"c": 2}}),
    ],
    ids=[
        "mappings-merge",
        "lists-replace",
        "new-keys-added",
        "scalar-replaces-mapping",
        "null-removes",
    ],
)
def test_deep_merge(
    base: dict[str, object], overlay: dict[str, object], merged: dict[str, object]
) -> None:
    assert deep_merge(base, overlay) == merged


def test_deep_merge_leaves_its_inputs_alone() -> None:
    base = {"a": {"b": [1]}}
    overlay = {"a": {"c": [1]}, "d": {"e": [1]}}
    merged = deep_merge(base, overlay)
    merged["a"]["b"].append(2)
    merged["a"]["c"].append(2)
    merged["d"]["e"].append(2)
    assert base == {"a": {"b": [1]}}
    assert overlay == {"a": {"c": [1]}, "d": {"e": [1]}}


def test_merge_into_changes_the_target_alone_and_places_copies() -> None:
    shared = {"x": [1]}  # one mapping placed twice, as a YAML anchor does
    target: dict[str, object] = {"a": {"b": 1}, "gone": 1}
    merge_into(target, {"a": {"c": shared}, "d": shared, "gone": None})
    assert target == {"a": {"b": 1, "c": {"x": [1]}}, "d": {"x": [1]}}
    target["d"]["x"].append(2)  # type: ignore[index]
    assert shared == {"x": [1]}
    assert target["a"] == {"b": 1, "c": {"x": [1]}}  # each placement its own copy


@pytest.mark.parametrize("path", sorted(spec_dir().rglob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_file_reads_as_pyyamls_safe_loader_reads_it(path: Path) -> None:
    # the spec is read with libyaml's loader, when there is one, for the start-up's sake
    import yaml

    from mockserver.spec import _read_document

    assert _read_document(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


FILE_OPERATIONS_SERVED = {
    "/api/v1/files/upload/base64": ("post", "uploadFileBase64"),
    "/api/v1/files/upload/stream": ("post", "uploadFileStream"),
    "/api/v1/files/upload/url": ("post", "uploadFileUrl"),
    "/api/v1/files/quota": ("get", "getFilesQuota"),
}


@pytest.mark.parametrize("name", FILE_PAGES)
def test_a_files_page_is_served_as_the_vendor_wrote_it_but_for_its_errors(name: str) -> None:
    page = json.loads((spec_dir() / name).read_text(encoding="utf-8"))
    ((path, item),) = page["paths"].items()
    ((method, operation),) = item.items()
    served = SPEC.document["paths"][path][method]

    assert FILE_OPERATIONS_SERVED[path] == (method, served["operationId"])
    # the overlay adds error responses, and `required` to the schemas; nothing else changes
    assert {k: v for k, v in served.items() if k != "responses"} == {
        k: v for k, v in operation.items() if k != "responses"
    }
    assert served["responses"]["200"] == operation["responses"]["200"]
    schemas = SPEC.document["components"]["schemas"]
    first = json.loads((spec_dir() / FILE_PAGES[0]).read_text(encoding="utf-8"))
    for schema_name, schema in page["components"]["schemas"].items():
        if schema_name in ("FileUploadResponse", "FileData"):  # the base64 page's examples
            schema = first["components"]["schemas"][schema_name]
        served_schema = schemas[schema_name]
        if schema_name in ("FileUploadResponse", "FileData", "QuotaResponse", "QuotaData"):
            assert "required" not in schema
            assert served_schema["required"]  # the overlay's
            served_schema = {k: v for k, v in served_schema.items() if k != "required"}
        assert served_schema == schema


def test_the_files_routes_the_client_calls_are_served_and_answer_the_files_envelope() -> None:
    paths = SPEC.document["paths"]

    assert paths["/api/v1/files/list"]["get"]["operationId"] == "listFiles"
    assert paths["/api/v1/files/{file_id}"]["delete"]["operationId"] == "deleteFile"
    assert "x-file-errors" not in SPEC.document
    for errors in SPEC.file_errors.values():
        assert {401, 429, 500} <= set(errors)
    # their errors are the files envelope's: not in the catalogue scenarios and faults use
    assert not set(SPEC.file_errors) & set(SPEC.errors)
    assert SPEC.file_errors["deleteFile"][404] == "File not found or expired"
