"""Deliberately broken simulators, to prove the harness fails: each a small, named mutant.

They live here, with the meta-tests that use them, not in the package users install. A mutant
either wraps a clean app (an ASGI middleware rewriting a request or a response of the vendor's
API) or builds the simulator through one of its constructor seams (`callback_engine=`); none
patches a module or an object after the fact. `build(name, settings)` makes a fresh app.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver import Settings, Simulator, create_app, load_spec
from mockserver.delivery.engine import CallbackEngine, encode_body
from mockserver.delivery.ssrf import offline_resolver
from mockserver.domain.tasks import Task
from mockserver.spec import QUERY

JSON = dict[str, Any]
#: (mutant, scope, simulator, request body) -> the scope the app sees
OnRequest = Callable[["Mutant", Scope, Simulator, bytes], Awaitable[Scope]]
#: (mutant, scope, status, body) -> (status, body) the client sees
OnResponse = Callable[["Mutant", Scope, int, JSON], tuple[int, JSON]]


@dataclass
class Mutant:
    name: str
    description: str
    on_request: OnRequest | None = None
    on_response: OnResponse | None = None
    #: builds the callback engine instead of `CallbackEngine` (for what HTTP cannot reach)
    callback_engine: Callable[..., CallbackEngine] = CallbackEngine
    reads: Counter[str] = field(default_factory=Counter)


def _task_id(scope: Scope) -> str | None:
    path: str = scope["path"]
    return path.rsplit("/", 1)[-1] if path.startswith("/v1/tasks/") else None


def _with_auth(scope: Scope, key: str) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
    return {**scope, "headers": [*headers, (b"authorization", f"Bearer {key}".encode())]}


async def _crash_on_unicode(m: Mutant, scope: Scope, sim: Simulator, body: bytes) -> Scope:
    if scope["method"] == "POST" and (any(b > 127 for b in body) or b"\\u" in body):
        return {**scope, "path": "/_mutants/crash"}
    return scope


async def _auth_ignored(m: Mutant, scope: Scope, sim: Simulator, body: bytes) -> Scope:
    keys = sim.settings.api_keys
    return _with_auth(scope, sorted(keys)[0] if keys else "sk-anything")


async def _foreign_task_readable(m: Mutant, scope: Scope, sim: Simulator, body: bytes) -> Scope:
    task = await sim.store.get_task(_task_id(scope) or "")
    return _with_auth(scope, task.owner) if task is not None else scope


async def _foreign_task_in_batch(m: Mutant, scope: Scope, sim: Simulator, body: bytes) -> Scope:
    """A batch read made as the owner of the first task it names that exists: another key's
    task comes back in the batch."""
    if scope["method"] != "POST" or scope["path"] != "/v1/tasks/batch":
        return scope
    try:
        ids = json.loads(body).get("task_ids")
    except (ValueError, AttributeError):
        return scope
    for task_id in ids if isinstance(ids, list) else []:
        task = await sim.store.get_task(task_id) if isinstance(task_id, str) else None
        if task is not None:
            return _with_auth(scope, task.owner)
    return scope


async def _idempotency_key_ignored(m: Mutant, scope: Scope, sim: Simulator, body: bytes) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k != b"idempotency-key"]
    return {**scope, "headers": headers}


def _task_lost(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if scope["method"] == "GET" and status == 200:
        error = load_spec().errors[QUERY][404]
        return 404, {"error": {"code": error.code, "message": error.message, "type": error.type}}
    return status, body


def _undeclared_field(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    return status, ({**body, "debug_trace": "worker-7"} if status == 200 else body)


def _missing_required_field(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    return status, ({k: v for k, v in body.items() if k != "status"} if status == 200 else body)


def _wrong_error_envelope(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if status >= 400 and isinstance(body.get("error"), dict):
        return status, {"message": body["error"].get("message"), "status": status}
    return status, body


def _every_other_read(m: Mutant, scope: Scope, status: int) -> bool:
    task_id = _task_id(scope)
    if scope["method"] != "GET" or status != 200 or task_id is None:
        return False
    m.reads[task_id] += 1
    return m.reads[task_id] % 2 == 0


def _status_backward(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if body.get("status") == "completed" and _every_other_read(m, scope, status):
        body = {k: v for k, v in body.items() if k != "results"}
        return status, {**body, "status": "processing", "progress": 99}
    return status, body


def _progress_drops(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    progress = body.get("progress")
    if (
        body.get("status") == "processing"
        and isinstance(progress, int)
        and progress >= 10
        and _every_other_read(m, scope, status)
    ):
        return status, {**body, "progress": progress - 10}
    return status, body


def _results_missing(m: Mutant, scope: Scope, status: int, body: JSON) -> tuple[int, JSON]:
    if body.get("status") == "completed":
        return status, {k: v for k, v in body.items() if k != "results"}
    return status, body


class StaleBodyEngine(CallbackEngine):
    """Sends the task as it was at submit, not as its GET shows it when the callback goes."""

    def body_for(self, task: Task, at: float) -> bytes:
        return encode_body(task.to_json(task.plan.created))


MUTANTS = [
    Mutant(
        "crash-on-unicode",
        "a create whose body has non-ASCII text crashes (500)",
        on_request=_crash_on_unicode,
    ),
    Mutant("auth-ignored", "any key, or none, is accepted", on_request=_auth_ignored),
    Mutant("foreign-task-readable", "any key can read any task", on_request=_foreign_task_readable),
    Mutant(
        "foreign-task-in-batch",
        "a batch read answers another key's task",
        on_request=_foreign_task_in_batch,
    ),
    Mutant(
        "idempotency-key-ignored",
        "`Idempotency-Key` is dropped before the app: every create makes a new task",
        on_request=_idempotency_key_ignored,
    ),
    Mutant("task-lost", "every task read answers 404 task_not_found", on_response=_task_lost),
    Mutant(
        "undeclared-field",
        "200 bodies carry a field the spec does not declare",
        on_response=_undeclared_field,
    ),
    Mutant(
        "missing-required-field",
        "200 bodies lack the required `status`",
        on_response=_missing_required_field,
    ),
    Mutant(
        "wrong-error-envelope",
        'errors are {"message", "status"}, not {"error": {...}}',
        on_response=_wrong_error_envelope,
    ),
    Mutant(
        "status-backward",
        "a completed task reads as processing every other time",
        on_response=_status_backward,
    ),
    Mutant(
        "progress-drops",
        "a processing task's progress drops 10 every other read",
        on_response=_progress_drops,
    ),
    Mutant("results-missing", "a completed task has no `results`", on_response=_results_missing),
    Mutant(
        "callback-body-differs",
        "a callback carries the task as it was at submit, not its GET body",
        callback_engine=StaleBodyEngine,
    ),
    Mutant(
        "retry-off-by-one",
        "callback retries come 2, 3 and 5 s after a failed attempt",
        callback_engine=functools.partial(CallbackEngine, retry_delays=(2.0, 3.0, 5.0)),
    ),
]


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("the contract suites send nothing out", request=request)


#: Where a simulator's own requests go under schemathesis: nowhere. No resolver is asked about
#: an IP literal, and a generated `file_url` may be a public one.
OFFLINE = httpx.MockTransport(_refuse)


def names() -> list[str]:
    return [m.name for m in MUTANTS]


def describe(name: str) -> str:
    return _find(name).description


def _find(name: str) -> Mutant:
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    raise ValueError(f"unknown mutant {name!r}; known: {', '.join(names())}")


def build(
    name: str | None, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ASGIApp:
    """A fresh app with these settings, broken as `name` says (None: the clean simulator).
    Generated callback URLs never reach real DNS, nor a receiver anywhere; with `transport`
    (`OFFLINE`), what the simulator sends (callbacks, a URL upload's fetch) goes there."""
    template = _find(name) if name is not None else None
    # a fresh copy: a mutant that counts reads starts from none in each app
    mutant = dataclasses.replace(template, reads=Counter()) if template else None
    engine = mutant.callback_engine if mutant else CallbackEngine
    if transport is not None:
        engine = functools.partial(engine, transport=transport)
    simulator = Simulator(settings, resolver=offline_resolver, callback_engine=engine)
    app = create_app(simulator=simulator)
    if mutant is None or (mutant.on_request is None and mutant.on_response is None):
        return app
    return MutantMiddleware(app, simulator, mutant)


class MutantMiddleware:
    """Applies a mutant to the vendor's API; the admin routes stay honest."""

    def __init__(self, app: ASGIApp, simulator: Simulator, mutant: Mutant) -> None:
        self.app = app
        self.simulator = simulator
        self.mutant = mutant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        mutant = self.mutant
        if mutant.on_request is not None:
            body, receive = await _buffered(receive)
            scope = await mutant.on_request(mutant, scope, self.simulator, body)
            if scope["path"] == "/_mutants/crash":
                await _crashed(send)
                return
        if mutant.on_response is None:
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
            status, data = mutant.on_response(mutant, scope, status, data)
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
