"""The merged OpenAPI document: the only source of enums, limits and documented errors.

The vendor's pages are vendored verbatim: the create page, and the credits page's operation and
its `CreditsResponse`; `openapi/overlay.yaml` is deep-merged onto them. All are read once per
process (`load_spec()` is cached); validators are compiled once. A simulator reads the
spec it was given (`Simulator.spec`, by default this one); nothing else reads its own copy.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

VENDOR_FILE = "vendor/sora-2-pro-preview-video-generate.yaml"
CREDITS_FILE = "vendor/get-credits.json"
OVERLAY_FILE = "overlay.yaml"
CREATE = "createVideoGeneration"
QUERY = "getTaskDetail"
CREDITS = "getCredits"


def spec_dir() -> Path:
    """Where the spec files are: `mockserver/openapi`, in a checkout a link to the top-level
    `openapi/` folder, in the wheel a copy of it."""
    return Path(__file__).with_name("openapi")


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; a null in `overlay` removes the key (as a JSON Merge Patch,
    RFC 7386, does); anything else in `overlay` replaces what `base` had."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_document(path: Path) -> dict[str, Any]:
    """A YAML file, or a JSON file (by its suffix), whose top is a mapping."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top")
    return data


def credits_page_part(page: Mapping[str, Any]) -> dict[str, Any]:
    """What the merged document takes of the credits page: its path and its `CreditsResponse`.

    Its `ErrorResponse` (an integer `code`, as the vendor answered before March 2026) is left
    out, so its error responses refer to the create page's, whose `code` is a string; its
    `info`, `servers` and tags describe that page alone.
    """
    schemas = page["components"]["schemas"]
    return {
        "paths": page["paths"],
        "components": {"schemas": {"CreditsResponse": schemas["CreditsResponse"]}},
    }


@dataclass(frozen=True, slots=True)
class DocumentedError:
    """One error response as the spec's example gives it."""

    status: int
    code: str
    message: str
    type: str
    param: str | None = None


@dataclass(frozen=True, slots=True)
class FieldError:
    """One way a request body breaks the schema; `field` is a dotted path, "" for the body."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def _field_error(err: Any) -> FieldError:
    path = [str(part) for part in err.instance_path]
    if isinstance(err.kind, jsonschema_rs.ValidationErrorKind.Required):
        return FieldError(".".join([*path, err.kind.property]), "is required")
    return FieldError(".".join(path), err.message)


class Spec:
    """Read-only view of the merged document, with what the simulator needs precomputed."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self._operations: dict[str, dict[str, Any]] = {
            op["operationId"]: op
            for item in document["paths"].values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }
        schemas = document["components"]["schemas"]
        self.request_schema: dict[str, Any] = schemas["VideoGenerationRequest"]
        root = {
            "$ref": "#/components/schemas/VideoGenerationRequest",
            "components": {"schemas": schemas},
        }
        self._request_validator = jsonschema_rs.Draft202012Validator(root, validate_formats=True)
        self._response_validators: dict[tuple[str, int], Any] = {}
        self.errors: dict[str, dict[int, DocumentedError]] = {
            op_id: self._documented_errors(op) for op_id, op in self._operations.items()
        }

    @staticmethod
    def _documented_errors(operation: dict[str, Any]) -> dict[int, DocumentedError]:
        errors = {}
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            example = response["content"]["application/json"]["example"]["error"]
            errors[int(status)] = DocumentedError(
                status=int(status),
                code=example["code"],
                message=example["message"],
                type=example["type"],
                param=example.get("param"),
            )
        return errors

    def operation(self, operation_id: str) -> dict[str, Any]:
        return self._operations[operation_id]

    def request_property(self, name: str) -> dict[str, Any]:
        prop: dict[str, Any] = self.request_schema["properties"][name]
        return prop

    def enum(self, name: str) -> list[Any]:
        """The allowed values of a request property, as the spec lists them."""
        return list(self.request_property(name)["enum"])

    def request_errors(self, body: object) -> list[FieldError]:
        """Every way `body` breaks the create request schema, in document order."""
        if self._request_validator.is_valid(body):  # the common case, without building errors
            return []
        return [_field_error(err) for err in self._request_validator.iter_errors(body)]

    def response_problems(self, operation_id: str, status: int, body: object) -> list[str]:
        """How an answer breaks the spec: a status the operation does not document, or a body
        outside that status's schema. Empty when it conforms."""
        operation = self._operations.get(operation_id)
        if operation is None:
            return [f"{operation_id} is not an operation of the spec"]
        response = operation["responses"].get(str(status))
        if response is None:
            return [f"status {status} is not documented for {operation_id}"]
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return []
        key = (operation_id, status)
        validator = self._response_validators.get(key)
        if validator is None:
            root = {**schema, "components": self.document["components"]}
            validator = self._response_validators[key] = jsonschema_rs.Draft202012Validator(root)
        return [str(_field_error(err)) for err in validator.iter_errors(body)]

    def operation_of(self, method: str, path: str) -> str | None:
        """The operationId a request is for, by the spec's paths (`{name}` matches a segment)."""
        for template, item in self.document["paths"].items():
            pattern = "^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)) + "$"
            op = item.get(method.lower())
            if isinstance(op, dict) and re.match(pattern, path):
                return str(op["operationId"])
        return None


@functools.cache
def load_spec() -> Spec:
    """The merged document, read and compiled once per process."""
    folder = spec_dir()
    credits = credits_page_part(_read_document(folder / CREDITS_FILE))
    vendored = deep_merge(_read_document(folder / VENDOR_FILE), credits)
    return Spec(deep_merge(vendored, _read_document(folder / OVERLAY_FILE)))
