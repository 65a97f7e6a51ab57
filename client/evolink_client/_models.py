"""Typed, immutable views of the API's task bodies.

Parsing is strict about the fields every task body must have (`id`, `object`, `status`,
`progress`, `created`, `model`) and about the types of the fields it knows, and tolerant of fields
the vendor adds later: those are kept, read-only, in `extra`.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from ._errors import UnexpectedResponseError

_T = TypeVar("_T")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)


class _Reader:
    """Takes typed fields out of one JSON object; what is left over is `extra`."""

    def __init__(self, data: object, what: str, raw: str) -> None:
        if not isinstance(data, dict):
            raise UnexpectedResponseError(
                f"{what}: expected a JSON object, got {type(data).__name__}", raw=raw
            )
        self._data: dict[str, Any] = dict(data)
        self._what = what
        self._raw = raw

    def fail(self, message: str) -> UnexpectedResponseError:
        return UnexpectedResponseError(f"{self._what}: {message}", raw=self._raw)

    def optional(self, name: str, kind: type[_T] | tuple[type, ...]) -> _T | None:
        value = self._data.pop(name, None)
        if value is None:
            return None
        # JSON Schema (and so the spec) counts 2.0 as an integer; Python's json reads it as float
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        # bool is an int in Python; JSON true is never a number here
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self.fail(f"{name!r} should be {_kind_name(kind)}, got {value!r:.80}")
        return value  # type: ignore[return-value]

    def required(self, name: str, kind: type[_T]) -> _T:
        if self._data.get(name) is None:
            raise self.fail(f"missing required field {name!r}")
        value = self.optional(name, kind)
        assert value is not None
        return value

    def obj(self, name: str) -> _Reader | None:
        value = self.optional(name, dict)
        return None if value is None else _Reader(value, f"{self._what}.{name}", self._raw)

    def extra(self) -> Mapping[str, Any]:
        return MappingProxyType(self._data) if self._data else _EMPTY


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


@dataclass(frozen=True, slots=True)
class TaskError:
    """Why a task failed: `code` is a task failure code such as `content_policy_violation`."""

    code: str
    message: str | None = None
    type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    @classmethod
    def _read(cls, r: _Reader) -> TaskError:
        return cls(
            r.required("code", str), r.optional("message", str), r.optional("type", str), r.extra()
        )


@dataclass(frozen=True, slots=True)
class TaskInfo:
    can_cancel: bool | None = None
    estimated_time: int | None = None
    video_duration: int | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    @classmethod
    def _read(cls, r: _Reader) -> TaskInfo:
        return cls(
            r.optional("can_cancel", bool),
            r.optional("estimated_time", int),
            r.optional("video_duration", int),
            r.extra(),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    billing_rule: str | None = None
    credits_reserved: float | None = None
    user_group: str | None = None
    #: what an ended task was charged: its price when completed, 0 when failed
    credits_used: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    @classmethod
    def _read(cls, r: _Reader) -> Usage:
        return cls(
            r.optional("billing_rule", str),
            _number(r.optional("credits_reserved", (int, float))),
            r.optional("user_group", str),
            _number(r.optional("credits_used", (int, float))),
            r.extra(),
        )


@dataclass(frozen=True, slots=True)
class Task:
    """A video generation task as the create, query and callback bodies show it."""

    id: str
    object: str
    status: TaskStatus
    progress: int
    created: int
    model: str
    type: str | None = None
    results: tuple[str, ...] = ()
    error: TaskError | None = None
    task_info: TaskInfo | None = None
    usage: Usage | None = None
    #: seconds from creation to the end, once the task has ended
    duration: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)
    #: True on the task a create returned when the server answered with `Idempotency-Replayed:
    #: true`: the task the key made before, and no new charge. Not part of the body, so `to_json`
    #: leaves it out and `==` ignores it.
    replayed: bool = field(default=False, compare=False)

    @property
    def done(self) -> bool:
        """Completed or failed: the task will not change any more."""
        return self.status.terminal

    @property
    def result_url(self) -> str | None:
        return self.results[0] if self.results else None

    @classmethod
    def from_json(cls, data: builtins.object, *, raw: str = "") -> Task:
        """Parse a decoded body; UnexpectedResponseError (carrying `raw`) if it is not a task."""
        r = _Reader(data, "task", raw)
        task_id = r.required("id", str)
        obj = r.required("object", str)
        status_text = r.required("status", str)
        try:
            status = TaskStatus(status_text)
        except ValueError:
            raise r.fail(f"unknown status {status_text!r}") from None
        progress = r.required("progress", int)
        if not 0 <= progress <= 100:
            raise r.fail(f"progress {progress} is outside 0-100")
        created = r.required("created", int)
        model = r.required("model", str)
        task_type = r.optional("type", str)
        results = r.optional("results", list) or []
        if not all(isinstance(url, str) for url in results):
            raise r.fail("'results' should be an array of URL strings")
        error = r.obj("error")
        info = r.obj("task_info")
        usage = r.obj("usage")
        duration = r.optional("duration", (int, float))
        return cls(
            id=task_id,
            object=obj,
            status=status,
            progress=progress,
            created=created,
            model=model,
            type=task_type,
            results=tuple(results),
            error=None if error is None else TaskError._read(error),
            task_info=None if info is None else TaskInfo._read(info),
            usage=None if usage is None else Usage._read(usage),
            duration=duration,
            extra=r.extra(),
        )

    def to_json(self) -> dict[str, Any]:
        """The task as a JSON object again, unknown fields included."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": self.object,
            "status": self.status.value,
            "progress": self.progress,
            "created": self.created,
            "model": self.model,
        }
        if self.type is not None:
            body["type"] = self.type
        if self.results:
            body["results"] = list(self.results)
        if self.duration is not None:
            body["duration"] = self.duration
        for name, part in (
            ("error", self.error),
            ("task_info", self.task_info),
            ("usage", self.usage),
        ):
            if part is not None:
                fields = {k: getattr(part, k) for k in part.__dataclass_fields__ if k != "extra"}
                body[name] = {k: v for k, v in fields.items() if v is not None} | dict(part.extra)
        return body | dict(self.extra)


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """A task as `GET /v1/tasks` lists it: its state, no result links (read the task, or a batch
    of them with `get_tasks`, for those)."""

    id: str
    model: str
    status: TaskStatus
    progress: int
    #: unix seconds
    created_at: int
    type: str | None = None
    #: seconds from creation to the end, once the task has ended
    duration: float | None = None
    has_results: bool = False
    result_count: int = 0
    has_error: bool = False
    #: what an ended task was charged
    credits_used: float | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    @property
    def done(self) -> bool:
        return self.status.terminal

    @classmethod
    def _read(cls, r: _Reader) -> TaskSummary:
        task_id = r.required("id", str)
        status_text = r.required("status", str)
        try:
            status = TaskStatus(status_text)
        except ValueError:
            raise r.fail(f"unknown status {status_text!r}") from None
        return cls(
            id=task_id,
            model=r.required("model", str),
            status=status,
            progress=r.required("progress", int),
            created_at=r.required("created_at", int),
            type=r.optional("type", str),
            duration=_number(r.optional("duration", (int, float))),
            has_results=bool(r.optional("has_results", bool)),
            result_count=r.optional("result_count", int) or 0,
            has_error=bool(r.optional("has_error", bool)),
            credits_used=_number(r.optional("credits_used", (int, float))),
            extra=r.extra(),
        )


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of `GET /v1/tasks`: its tasks, and how many match on every page."""

    tasks: tuple[TaskSummary, ...]
    total: int
    page: int
    page_size: int

    @classmethod
    def from_json(cls, data: builtins.object, *, raw: str = "") -> TaskPage:
        r = _Reader(data, "task list", raw)
        items = r.required("data", list)
        tasks = tuple(
            TaskSummary._read(_Reader(item, f"task list.data.{i}", raw))
            for i, item in enumerate(items)
        )
        return cls(
            tasks, r.required("total", int), r.required("page", int), r.required("page_size", int)
        )


def tasks_from_batch(data: builtins.object, *, raw: str = "") -> list[Task]:
    """The tasks of a `POST /v1/tasks/batch` answer, `{"data": [task, ...]}`."""
    r = _Reader(data, "task batch", raw)
    return [Task.from_json(item, raw=raw) for item in r.required("data", list)]


@dataclass(frozen=True, slots=True)
class Model:
    """A model as `GET /v1/models` lists it: what a create's `model` takes."""

    id: str
    object: str | None = None
    owned_by: str | None = None
    created: int | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)


def models_from(data: builtins.object, *, raw: str = "") -> list[Model]:
    """The models of a `GET /v1/models` answer, `{"data": [{"id": ...}, ...]}`."""
    r = _Reader(data, "model list", raw)
    models = []
    for i, item in enumerate(r.required("data", list)):
        m = _Reader(item, f"model list.data.{i}", raw)
        models.append(
            Model(
                m.required("id", str),
                m.optional("object", str),
                m.optional("owned_by", str),
                m.optional("created", int),
                m.extra(),
            )
        )
    return models


@dataclass(frozen=True, slots=True)
class Credits:
    """A key's balance as `GET /v1/credits` shows it, inside the vendor's envelope
    `{"success", "message", "data": {"user", "token"}}`: what the account has left and what it
    used, what the key's completed tasks were charged, and whether the key has a limit of its
    own. A running task's reserved price is neither used nor remaining."""

    #: `data.user.remaining_credits`: what the account has left
    remaining: float | None
    #: `data.token.used_credits`: what this key's completed tasks were charged
    used: float
    #: `data.token.unlimited_credits`: the key has no limit of its own (the account's applies)
    unlimited: bool
    #: `data.token.remaining_credits`: what this key may still spend
    token_remaining: float | None = None
    #: `data.user.used_credits`: what the account's completed tasks were charged
    account_used: float | None = None
    #: the envelope's `message` (the vendor's is empty on success)
    message: str = ""
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    @classmethod
    def from_json(cls, data: builtins.object, *, raw: str = "") -> Credits:
        """Parse a decoded body; UnexpectedResponseError (carrying `raw`) if it is not one, or
        if its envelope says `success: false`."""
        r = _Reader(data, "credits", raw)
        success = r.required("success", bool)
        message = r.optional("message", str) or ""
        if not success:
            raise r.fail(f"the answer says success: false ({message or 'no message'})")
        body = r.obj("data")
        user = None if body is None else body.obj("user")
        token = None if body is None else body.obj("token")
        if user is None or token is None:
            raise r.fail("expected 'data.user' and 'data.token' objects")
        remaining = user.optional("remaining_credits", (int, float))
        account_used = user.optional("used_credits", (int, float))
        used = token.optional("used_credits", (int, float))
        if used is None:
            raise r.fail("missing required field 'data.token.used_credits'")
        token_remaining = token.optional("remaining_credits", (int, float))
        unlimited = token.required("unlimited_credits", bool)
        return cls(
            _number(remaining),
            float(used),
            unlimited,
            _number(token_remaining),
            _number(account_used),
            message,
            r.extra(),
        )


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file uploaded to the files API (`data` of its answer, `FileData` on the vendor's pages):
    `file_url` is what a create takes as `image_urls`; the file expires at `expires_at`, 72 h
    after `upload_time` (both ISO 8601, as sent)."""

    file_id: str
    file_url: str
    file_name: str
    original_name: str
    file_size: int
    mime_type: str
    upload_path: str | None = None
    download_url: str | None = None
    upload_time: str | None = None
    expires_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, repr=False)

    @property
    def url(self) -> str:
        return self.file_url

    @classmethod
    def from_json(cls, data: builtins.object, *, raw: str = "") -> UploadedFile:
        """Parse an upload's answer `{"success", "code", "msg", "data"}`; UnexpectedResponseError
        (carrying `raw`) if it is not one, or if it says `success: false`."""
        r = _Reader(data, "upload", raw)
        if not r.required("success", bool):
            raise r.fail(f"the answer says success: false ({r.optional('msg', str) or 'no msg'})")
        body = r.obj("data")
        if body is None:
            raise r.fail("missing required field 'data'")
        return cls(
            file_id=body.required("file_id", str),
            file_url=body.required("file_url", str),
            file_name=body.required("file_name", str),
            original_name=body.required("original_name", str),
            file_size=body.required("file_size", int),
            mime_type=body.required("mime_type", str),
            upload_path=body.optional("upload_path", str),
            download_url=body.optional("download_url", str),
            upload_time=body.optional("upload_time", str),
            expires_at=body.optional("expires_at", str),
            extra=body.extra(),
        )

    def to_json(self) -> dict[str, Any]:
        """The file as the answer's `data` again, unknown fields included."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        return {k: v for k, v in fields.items() if v is not None} | dict(self.extra)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)
