"""Deliberate defects: small, named ways to break the simulator, to prove a contract harness fails.

Off unless named (`Settings.defects`, `evolink-mock serve --defect NAME`). Each is applied by
`DefectMiddleware` at the HTTP edge (rewriting a request or a response) or by patching a
component, so the simulator's own code paths carry no test hooks.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._spec import QUERY, load_spec

JSON = dict[str, Any]


@dataclass
class Defect:
    name: str
    description: str
    #: Rewrites the request's scope (headers) before the app sees it.
    on_request: Callable[[Defect, Scope, bytes, Any], Scope] | None = None
    #: Rewrites a JSON response of the vendor's API: (status, body) -> (status, body).
    on_response: Callable[[Defect, Scope, int, JSON], tuple[int, JSON]] | None = None
    #: Patches the simulator itself (for what the HTTP edge cannot reach, such as callbacks).
    patch: Callable[[Any], None] | None = None
    reads: Counter[str] = field(default_factory=Counter)


def _task_id(scope: Scope) -> str | None:
    path: str = scope["path"]
    return path.rsplit("/", 1)[-1] if path.startswith("/v1/tasks/") else None


def _with_auth(scope: Scope, key: str) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
    return {**scope, "headers": [*headers, (b"authorization", f"Bearer {key}".encode())]}


def _crash_on_unicode(d: Defect, scope: Scope, body: bytes, sim: Any) -> Scope:
    if scope["method"] == "POST" and (any(b > 127 for b in body) or b"\\u" in body):
        return {**scope, "path": "/_defects/crash"}  # routes to a handler that answers 500
    return scope


def _auth_ignored(d: Defect, scope: Scope, body: bytes, sim: Any) -> Scope:
    keys = sim.settings.api_keys
    return _with_auth(scope, sorted(keys)[0] if keys else "sk-anything")


def _foreign_task_readable(d: Defect, scope: Scope, body: bytes, sim: Any) -> Scope:
    task = sim.store.get(_task_id(scope) or "")
    return _with_auth(scope, task.owner) if task is not None else scope


def _task_lost(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if scope["method"] == "GET" and status == 200:
        error = load_spec().errors[QUERY][404]
        return 404, {"error": {"code": error.code, "message": error.message, "type": error.type}}
    return status, body


def _undeclared_field(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    return status, ({**body, "debug_trace": "worker-7"} if status == 200 else body)


def _missing_required_field(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    return status, ({k: v for k, v in body.items() if k != "status"} if status == 200 else body)


def _wrong_error_envelope(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if status >= 400 and isinstance(body.get("error"), dict):
        return status, {"message": body["error"].get("message"), "status": status}
    return status, body


def _every_other_read(d: Defect, scope: Scope, status: int, body: JSON) -> bool:
    """True on every second successful read of a task (so the defect flickers, as real bugs do)."""
    task_id = _task_id(scope)
    if scope["method"] != "GET" or status != 200 or task_id is None:
        return False
    d.reads[task_id] += 1
    return d.reads[task_id] % 2 == 0


def _status_backward(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if body.get("status") == "completed" and _every_other_read(d, scope, status, body):
        body = {k: v for k, v in body.items() if k != "results"}
        return status, {**body, "status": "processing", "progress": 99}
    return status, body


def _progress_drops(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    progress = body.get("progress")
    if (
        body.get("status") == "processing"
        and isinstance(progress, int)
        and progress >= 10
        and _every_other_read(d, scope, status, body)
    ):
        return status, {**body, "progress": progress - 10}
    return status, body


def _results_missing(d: Defect, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if body.get("status") == "completed":
        return status, {k: v for k, v in body.items() if k != "results"}
    return status, body


def _stale_callback_body(simulator: Any) -> None:
    from ._callbacks import encode_body

    simulator.callbacks.body_for = lambda task, at: encode_body(task.to_json(task.plan.created))


def _retry_off_by_one(simulator: Any) -> None:
    simulator.callbacks.retry_delays = (2.0, 3.0, 5.0)


def _catalogue() -> list[Defect]:
    return [
        Defect(
            "crash-on-unicode",
            "a create whose body has non-ASCII text crashes (500)",
            _crash_on_unicode,
        ),
        Defect("auth-ignored", "any key, or none, is accepted", _auth_ignored),
        Defect("foreign-task-readable", "any key can read any task", _foreign_task_readable),
        Defect("task-lost", "every task read answers 404 task_not_found", on_response=_task_lost),
        Defect(
            "undeclared-field",
            "200 bodies carry a field the spec does not declare",
            on_response=_undeclared_field,
        ),
        Defect(
            "missing-required-field",
            "200 bodies lack the required `status`",
            on_response=_missing_required_field,
        ),
        Defect(
            "wrong-error-envelope",
            'errors are {"message", "status"}, not {"error": {...}}',
            on_response=_wrong_error_envelope,
        ),
        Defect(
            "status-backward",
            "a completed task reads as processing every other time",
            on_response=_status_backward,
        ),
        Defect(
            "progress-drops",
            "a processing task's progress drops 10 every other read",
            on_response=_progress_drops,
        ),
        Defect(
            "results-missing", "a completed task has no `results`", on_response=_results_missing
        ),
        Defect(
            "callback-body-differs",
            "a callback carries the task as it was at submit, not its GET body",
            patch=_stale_callback_body,
        ),
        Defect(
            "retry-off-by-one",
            "callback retries come 2, 3 and 5 s after a failed attempt",
            patch=_retry_off_by_one,
        ),
    ]


def names() -> list[str]:
    return [d.name for d in _catalogue()]


def build(selected: tuple[str, ...] | list[str]) -> list[Defect]:
    known = {d.name: d for d in _catalogue()}
    defects = []
    for name in selected:
        if name not in known:
            raise ValueError(f"unknown defect {name!r}; known: {', '.join(names())}")
        defects.append(known[name])
    return defects


class DefectMiddleware:
    """Applies the named defects to the vendor's API; admin routes stay honest."""

    def __init__(self, app: ASGIApp, simulator: Any, defects: list[Defect]) -> None:
        self.app = app
        self.simulator = simulator
        self.defects = defects
        for defect in defects:
            if defect.patch is not None:
                defect.patch(simulator)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        body = b""
        if any(d.on_request for d in self.defects):
            body, receive = await _buffered(receive)
            for defect in self.defects:
                if defect.on_request is not None:
                    scope = defect.on_request(defect, scope, body, self.simulator)
        if scope["path"] == "/_defects/crash":
            await _crashed(send)
            return
        if not any(d.on_response for d in self.defects):
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        status, raw = start["status"], b"".join(chunks)
        headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for defect in self.defects:
                if defect.on_response is not None:
                    status, data = defect.on_response(defect, scope, status, data)
            raw = json.dumps(data).encode()
        headers.append((b"content-length", str(len(raw)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


async def _crashed(send: Send) -> None:
    """What an unhandled exception in a handler looks like to a client: the documented 500."""
    error = load_spec().errors[QUERY][500]
    raw = json.dumps({"error": {"code": error.code, "message": error.message, "type": error.type}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": raw.encode()})


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body, and a `receive` that replays it to the app."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay
