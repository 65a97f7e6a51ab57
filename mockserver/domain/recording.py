"""Recordings of the live API: one exchange a line, and a recorded task's lifecycle as a `Plan`.

The format (`openapi/recording.schema.json` describes a line) is what `evolink-mock proxy
--record` writes and `serve --replay` reads: JSON lines, each an object with its `version`. No
line holds an API key: headers are kept from an allow-list that has no `authorization`, and the
writer scrubs the caller's key from the line besides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .tasks import Failure, Knot, Plan, TaskStatus
from .types import JSONObject

RECORDING_VERSION = 1
#: the answer's headers a recording keeps: none of them carries a credential
KEPT_HEADERS = ("content-type", "retry-after", "x-request-id")
CREATE_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/"
#: a recorded task never seen to end stays where it was last seen for this long
NEVER = 10.0**9


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and its answer, as a recording line holds them."""

    method: str
    path: str
    request_body: Any
    status: int
    response_body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    #: the task the exchange is about, when there is one
    task_id: str | None = None
    #: seconds since the task's create was answered (0 for the create itself)
    at: float | None = None
    #: result media saved beside the recording, by file name
    media: tuple[str, ...] = ()

    def to_json(self) -> JSONObject:
        line: JSONObject = {
            "version": RECORDING_VERSION,
            "method": self.method,
            "path": self.path,
            "request_body": self.request_body,
            "status": self.status,
            "headers": dict(self.headers),
            "response_body": self.response_body,
            "task_id": self.task_id,
            "at": self.at,
        }
        if self.media:
            line["media"] = list(self.media)
        return line

    @classmethod
    def from_json(cls, line: object) -> Exchange:
        """ValueError for a line this version cannot read."""
        if not isinstance(line, dict):
            raise ValueError("a recording line is a JSON object")
        if line.get("version") != RECORDING_VERSION:
            raise ValueError(f"recording version {line.get('version')!r}, not {RECORDING_VERSION}")
        try:
            method, path, status = line["method"], line["path"], line["status"]
        except KeyError as exc:
            raise ValueError(f"a recording line without {exc.args[0]!r}") from exc
        at = line.get("at")
        if not (
            isinstance(method, str)
            and isinstance(path, str)
            and isinstance(status, int)
            and (at is None or isinstance(at, int | float))
        ):
            raise ValueError("a recording line's method, path, status or at has the wrong type")
        return cls(
            method,
            path,
            line.get("request_body"),
            status,
            line.get("response_body"),
            dict(line.get("headers") or {}),
            line.get("task_id"),
            None if at is None else float(at),
            tuple(line.get("media") or ()),
        )


def kept_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers if name.lower() in KEPT_HEADERS}


class Observation:
    """What one recorded answer showed of a task, `at` seconds after its create."""

    __slots__ = ("at", "error", "progress", "status")

    def __init__(self, at: float, body: Mapping[str, Any]) -> None:
        self.at = at
        self.status = TaskStatus(body["status"])
        self.progress = int(body.get("progress") or 0)
        error = body.get("error")
        self.error = (
            Failure(str(error.get("code", "")), str(error.get("message", "")), self.progress)
            if isinstance(error, dict)
            else None
        )


@dataclass(frozen=True, slots=True)
class RecordedTask:
    """A task as the recording saw it: its create body and what each answer showed."""

    task_id: str
    create_body: Mapping[str, Any]
    observations: tuple[Observation, ...]
    #: the result videos saved with the recording (`--record-media`): their paths
    media: tuple[str, ...] = ()

    def plan(self, created: float) -> Plan:
        """A plan that shows, `t` seconds after `created`, what the recording saw at `t`: the
        status changes at the answer that first showed it, progress steps at each answer."""
        seen = sorted(self.observations, key=lambda o: o.at)
        moved = [o for o in seen if o.status is not TaskStatus.PENDING]
        ended = next((o for o in moved if o.status.terminal), None)
        started = created + moved[0].at if moved else created + NEVER
        curve: list[Knot] = []
        progress = 0.0
        for o in moved:
            if o is ended:
                break
            if o.progress > progress:
                curve += [(created + o.at, progress), (created + o.at, float(o.progress))]
                progress = float(o.progress)
        if not moved:
            return Plan(created, created + NEVER, created + 2 * NEVER)
        if ended is None:  # never seen to end: it stays as last seen
            finished = created + NEVER
            return Plan(created, started, finished, curve=(*curve, (finished - 1, progress)))
        end = created + ended.at
        if ended.status is TaskStatus.COMPLETED:
            return Plan(created, min(started, end), end, curve=(*curve, (end, progress)))
        failure = ended.error or Failure("generation_failed", "The task failed", int(progress))
        failure = failure._replace(at_progress=int(progress))
        return Plan(
            created,
            min(started, end),
            end + 1,
            failure,
            stopped=end,
            curve=(*curve, (end, progress)),
        )


def recorded_tasks(exchanges: Iterable[Exchange]) -> list[RecordedTask]:
    """Each task a recording created and answered for, in the order of their creates."""
    creates: dict[str, Mapping[str, Any]] = {}
    seen: dict[str, list[Observation]] = {}
    media: dict[str, tuple[str, ...]] = {}
    for ex in exchanges:
        if ex.media and ex.task_id is not None:
            media[ex.task_id] = ex.media
        body = ex.response_body
        if ex.status != 200 or not isinstance(body, dict) or not isinstance(body.get("id"), str):
            continue
        if ex.method == "POST" and ex.path == CREATE_PATH and isinstance(ex.request_body, dict):
            creates[body["id"]] = ex.request_body
        elif not (ex.method == "GET" and ex.path.startswith(TASK_PATH)):
            continue
        try:
            seen.setdefault(body["id"], []).append(Observation(ex.at or 0.0, body))
        except (KeyError, ValueError, TypeError):
            continue  # a status this version does not know: the task is replayed without it
    return [
        RecordedTask(task_id, body, tuple(seen.get(task_id, ())), media.get(task_id, ()))
        for task_id, body in creates.items()
    ]
