"""The merged OpenAPI document: the only source of enums, limits and documented errors.

The vendor's pages are vendored verbatim: the create page, and the credits page's operation and
its `CreditsResponse`; `openapi/overlay.yaml` is deep-merged onto them. Each served model is a
data file (`openapi/models/<model>.toml`, its format in `docs/models.md`) naming its own vendored
create page: the served create body is those pages' request bodies, one per model, told apart by
`model`. The files API's pages (`vendor/files-*.json`) add their paths and schemas, and
`openapi/files-overlay.yaml` what they lack. All are read once per process (`load_spec()` is
cached); validators are compiled once, one per model. A simulator reads the spec it was given
(`Simulator.spec`, by default this one); nothing else reads its own copy.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

#: The base document: its operation's text and its response and error shapes are every model's.
VENDOR_FILE = "vendor/sora-2-pro-preview-video-generate.yaml"
CREDITS_FILE = "vendor/get-credits.json"
#: The files API's pages (host files-api.evolink.ai), served on the mock's own origin.
FILE_PAGES = (
    "vendor/files-upload-base64.json",
    "vendor/files-upload-stream.json",
    "vendor/files-upload-url.json",
    "vendor/files-quota.json",
)
OVERLAY_FILE = "overlay.yaml"
#: What we author for the files pages: their errors, and the client's list and delete routes.
FILES_OVERLAY_FILE = "files-overlay.yaml"
#: The shipped models' data files, one `<model>.toml` each.
MODELS_DIR = "models"
#: What names a model's request schema among the document's schemas.
REQUEST_SCHEMA = "VideoGenerationRequest"
CREATE = "createVideoGeneration"
QUERY = "getTaskDetail"
CREDITS = "getCredits"
#: The gateway's routes beyond the pages, as the vendor's current client calls them (overlay)
LIST_TASKS = "listTasks"
BATCH_TASKS = "getTasksBatch"
LIST_MODELS = "listModels"
MODEL_PRICING = "getModelPricing"
PRICING_RULES = "getPricingRules"
UPLOAD_BASE64 = "uploadFileBase64"
UPLOAD_STREAM = "uploadFileStream"
UPLOAD_URL = "uploadFileUrl"
FILES_QUOTA = "getFilesQuota"
LIST_FILES = "listFiles"
DELETE_FILE = "deleteFile"
#: The files API's operations: they answer in its envelope, `{"success", "code", "msg", "data"}`.
FILE_OPERATIONS = frozenset(
    {UPLOAD_BASE64, UPLOAD_STREAM, UPLOAD_URL, FILES_QUOTA, LIST_FILES, DELETE_FILE}
)


def spec_dir() -> Path:
    """Where the spec files are: `mockserver/openapi`, in a checkout a link to the top-level
    `openapi/` folder, in the wheel a copy of it."""
    return Path(__file__).with_name("openapi")


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; a null in `overlay` removes the key (as a JSON Merge Patch,
    RFC 7386, does); anything else in `overlay` replaces what `base` had. The result shares
    nothing with either."""
    merged = copy.deepcopy(dict(base))
    merge_into(merged, overlay)
    return merged


def merge_into(target: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    """`deep_merge`, in place: `target` takes `overlay` (copies of its values; `target`'s own
    are not copied again, at any depth)."""
    for key, value in overlay.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
            inner = target[key]
            if not isinstance(inner, dict):
                inner = target[key] = dict(inner)
            merge_into(inner, value)
        else:
            target[key] = copy.deepcopy(value)


#: libyaml's safe loader where PyYAML has it (its wheels do): the same documents as
#: `yaml.safe_load` (a test holds them equal), read about 8x faster, at every start
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_document(path: Path) -> dict[str, Any]:
    """A YAML file, or a JSON file (by its suffix), whose top is a mapping."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)
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


def file_pages_part(pages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the merged document takes of the files pages: their paths and schemas. Three pages
    define `FileUploadResponse` and `FileData`, the same but for their examples: the first
    page's is taken. Their `servers` (files-api.evolink.ai), `info` and `tags` are left out:
    the mock serves these paths on its own origin."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for page in pages:
        paths.update(page["paths"])
        for name, schema in page["components"]["schemas"].items():
            schemas.setdefault(name, schema)
    return {"paths": paths, "components": {"schemas": schemas}}


class ModelFileError(ValueError):
    """A model's data file or page that cannot be served: one line naming the file and field."""

    def __init__(self, path: Path, field: str, why: str) -> None:
        super().__init__(f"{path}: {field}: {why}" if field else f"{path}: {why}")


@dataclass(frozen=True, slots=True)
class ModelSource:
    """One served model as its files say: its data file (`profile`, read as `data`) and the
    vendored create page it names (`page`, read as `document`)."""

    name: str
    profile: Path
    data: Mapping[str, Any]
    page: Path
    document: Mapping[str, Any]

    @property
    def request(self) -> Mapping[str, Any]:
        """The page's create request schema, as the vendor wrote it."""
        schema: Mapping[str, Any] = self.document["components"]["schemas"][REQUEST_SCHEMA]
        return schema


#: A model's name: what the vendor's pages use (lowercase, digits, `.`, `-`, `_`).
_MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


def read_model(profile: Path) -> ModelSource:
    """A model's data file and the page it names (`page`, relative to the file), checked for
    what the document needs of them: a name, a page with a create request body, durations."""
    try:
        data = tomllib.loads(profile.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFileError(profile, "", exc.strerror or str(exc)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(profile, "", f"not valid TOML: {exc}") from exc
    name = data.get("model")
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise ModelFileError(profile, "model", "expected a model name like sora-2-preview")
    if not isinstance(data.get("page"), str):
        raise ModelFileError(profile, "page", "expected the path of the model's vendored page")
    page = (profile.parent / data["page"]).resolve()
    try:
        document = _read_document(page)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ModelFileError(profile, "page", f"cannot read {page}: {exc}") from exc
    try:
        operation = document["paths"]["/v1/videos/generations"]["post"]
        request = document["components"]["schemas"][REQUEST_SCHEMA]
        properties = request["properties"]
    except (KeyError, TypeError):
        raise ModelFileError(
            profile,
            "page",
            f"{page} has no POST /v1/videos/generations with a {REQUEST_SCHEMA} schema",
        ) from None
    if operation.get("operationId") != CREATE or "model" not in properties:
        raise ModelFileError(profile, "page", f"{page} is not a {CREATE} page with a model field")
    enum = properties["model"].get("enum")
    if enum is not None and enum != [name]:
        raise ModelFileError(profile, "model", f"{name!r}, but its page's model enum is {enum}")
    durations = data.get("durations")
    if (
        not isinstance(durations, list)
        or not durations
        or not all(type(d) is int and d > 0 for d in durations)
        or len(set(durations)) != len(durations)
    ):
        raise ModelFileError(profile, "durations", "expected whole seconds, like [4, 8, 12]")
    return ModelSource(name, profile, data, page, document)


def read_models(
    folders: Sequence[Path], only: Collection[str] | None = None
) -> tuple[ModelSource, ...]:
    """Every `*.toml` of the folders, in order (the base page's model first, then by name);
    with `only`, just those models, each of which must be found. Two files naming one model,
    or two models on one page, are refused."""
    found: dict[str, ModelSource] = {}
    pages: dict[Path, ModelSource] = {}
    for folder in folders:
        if not folder.is_dir():
            raise ModelFileError(folder, "", "not a folder of model files")
        for path in sorted(folder.glob("*.toml")):
            source = read_model(path)
            twin = found.get(source.name)
            if twin is not None:
                raise ModelFileError(path, "model", f"{source.name!r} is {twin.profile}'s too")
            same_page = pages.get(source.page)
            if same_page is not None:
                raise ModelFileError(
                    path, "page", f"{source.page} is the page of {same_page.name!r} already"
                )
            found[source.name] = pages[source.page] = source
    if only is not None:
        missing = sorted(set(only) - set(found))
        if missing:
            raise ModelFileError(
                folders[0] if folders else Path("."),
                "models",
                f"no model file for {', '.join(missing)}; found: {', '.join(sorted(found))}",
            )
        found = {name: source for name, source in found.items() if name in only}
    if not found:
        raise ModelFileError(folders[0] if folders else Path("."), "models", "no model to serve")
    base = (spec_dir() / VENDOR_FILE).resolve()
    return tuple(sorted(found.values(), key=lambda s: (s.page != base, s.name)))


def model_request(source: ModelSource, overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A model's create request schema as served: its page's, with what every page's prose says
    (`overlay`: the overlay's `VideoGenerationRequest`), `model` its one value, and `duration`
    the durations of its data file."""
    properties = source.request.get("properties", {})
    prose = {k: v for k, v in overlay.get("properties", {}).items() if k in properties}
    schema = deep_merge(source.request, {**overlay, "properties": prose})
    properties = schema["properties"]
    properties["model"] = {**properties["model"], "enum": [source.name], "default": source.name}
    if "duration" in properties:
        properties["duration"] = {**properties["duration"], "enum": list(source.data["durations"])}
    return schema


def build_document(models: Sequence[ModelSource], folder: Path | None = None) -> dict[str, Any]:
    """The served document: the base page, the credits page's part and the overlay, then the
    create request body as one schema per model (`VideoGenerationRequest.<model>`), discriminated
    by `model`, each page's example beside it."""
    folder = folder or spec_dir()
    credits = credits_page_part(_read_document(folder / CREDITS_FILE))
    overlay = _read_document(folder / OVERLAY_FILE)
    request_overlay = overlay["components"]["schemas"].pop(REQUEST_SCHEMA, {})
    # the documents read here are this merge's own: merged in place, copied only where placed
    document = _read_document(folder / VENDOR_FILE)
    merge_into(document, credits)
    merge_into(document, overlay)
    files = file_pages_part([_read_document(folder / page) for page in FILE_PAGES])
    files_overlay = _read_document(folder / FILES_OVERLAY_FILE)
    files_overlay.pop("x-file-errors", None)  # the answers its paths share, by YAML anchors
    merge_into(document, files)
    merge_into(document, files_overlay)
    schemas = document["components"]["schemas"]
    refs = {}
    examples = {}
    for source in models:
        name = f"{REQUEST_SCHEMA}.{source.name}"
        schemas[name] = model_request(source, request_overlay)
        refs[source.name] = f"#/components/schemas/{name}"
        content = source.document["paths"]["/v1/videos/generations"]["post"]["requestBody"]
        for key, example in content["content"]["application/json"].get("examples", {}).items():
            examples[f"{source.name}.{key}"] = copy.deepcopy(example)
    schemas[REQUEST_SCHEMA] = {
        "description": "The create body of the model it names: each model's own page.",
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {"propertyName": "model", "mapping": refs},
    }
    create = document["paths"]["/v1/videos/generations"]["post"]
    create["requestBody"]["content"]["application/json"]["examples"] = examples
    return document


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

    def __init__(
        self, document: dict[str, Any], models: Sequence[ModelSource] | None = None
    ) -> None:
        self.document = document
        #: what each served model's files say, the base page's model first
        self.sources: tuple[ModelSource, ...] = tuple(models or ())
        self._operations: dict[str, dict[str, Any]] = {
            op["operationId"]: op
            for item in document["paths"].values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }
        schemas = document["components"]["schemas"]
        prefix = f"{REQUEST_SCHEMA}."
        #: each served model's create request schema, by name
        self.request_schemas: dict[str, dict[str, Any]] = {
            name.removeprefix(prefix): schema
            for name, schema in schemas.items()
            if name.startswith(prefix)
        }
        if not self.request_schemas:  # a document of one page, its request body its own
            only = schemas[REQUEST_SCHEMA]
            self.request_schemas = {only["properties"]["model"]["enum"][0]: only}
        #: the served models, the base page's first
        self.models: tuple[str, ...] = tuple(self.request_schemas)
        #: the first model's request schema (the seed's page, when it is served)
        self.request_schema: dict[str, Any] = self.request_schemas[self.models[0]]
        self._request_validators = {
            model: jsonschema_rs.Draft202012Validator(
                {**schema, "components": {"schemas": schemas}}, validate_formats=True
            )
            for model, schema in self.request_schemas.items()
        }
        #: a served model by its name folded (case, spaces): for the hint of a near miss
        self._folded = {_fold(model): model for model in self.models}
        self._response_validators: dict[tuple[str, int], Any] = {}
        self.errors: dict[str, dict[int, DocumentedError]] = {
            op_id: self._documented_errors(op)
            for op_id, op in self._operations.items()
            if op_id not in FILE_OPERATIONS
        }
        #: the files API's documented errors: each one's `msg`, by status
        self.file_errors: dict[str, dict[int, str]] = {
            op_id: {
                int(status): response["content"]["application/json"]["example"]["msg"]
                for status, response in op["responses"].items()
                if int(status) >= 400
            }
            for op_id, op in self._operations.items()
            if op_id in FILE_OPERATIONS
        }
        #: the operations anyone may call without a key (`security: []`): no key's scenario,
        #: fault or rate limit shapes them
        self.public = frozenset(
            op_id for op_id, op in self._operations.items() if op.get("security") == []
        )

    @functools.cached_property
    def document_bytes(self) -> bytes:
        """The document as `/openapi.json` serves it, encoded on its first read (the document
        must not change after that): the apps of the shipped models share one spec
        (`load_spec`), and encoding it took 2 ms an app."""
        return json.dumps(self.document, ensure_ascii=False).encode()

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

    def request_property(self, name: str, model: str | None = None) -> dict[str, Any]:
        """A property of a model's create request (by default the first model's)."""
        schema = self.request_schemas[model] if model is not None else self.request_schema
        prop: dict[str, Any] = schema["properties"][name]
        return prop

    def enum(self, name: str, model: str | None = None) -> list[Any]:
        """The allowed values of a request property, as the model's page lists them."""
        return list(self.request_property(name, model)["enum"])

    def request_errors(self, body: object) -> list[FieldError]:
        """Every way `body` breaks the create request schema of the model it names, in document
        order; a model not served is one error naming it."""
        model = body.get("model") if type(body) is dict else None
        validator = self._request_validators.get(model) if type(model) is str else None
        if validator is None:
            if type(model) is str:
                return [self.unknown_model(model)]
            validator = self._request_validators[self.models[0]]  # no model: the first's rules
        if validator.is_valid(body):  # the common case, without building errors
            return []
        return [_field_error(err) for err in validator.iter_errors(body)]

    def unknown_model(self, model: str) -> FieldError:
        """The error of a model name this spec does not serve, with the near miss if any."""
        near = self._folded.get(_fold(model))
        hint = f"; did you mean {near!r}?" if near is not None else ""
        return FieldError(
            "model", f"{model!r} is not a model served here: one of {', '.join(self.models)}{hint}"
        )

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


def _fold(name: str) -> str:
    return "".join(name.split()).lower()


def build_spec(models: Sequence[ModelSource]) -> Spec:
    """The document serving these models, with their validators."""
    return Spec(build_document(models), models)


def shipped_models() -> tuple[ModelSource, ...]:
    """The models this release ships (`openapi/models/`)."""
    return read_models([spec_dir() / MODELS_DIR])


@functools.cache
def load_spec() -> Spec:
    """The merged document of the shipped models, read and compiled once per process."""
    return build_spec(shipped_models())
