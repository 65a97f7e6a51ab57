"""The simulator's state and every transition of it. No web imports: the HTTP layer parses a
request, calls one method here and serialises what comes back.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any

from ._clock import Clock, RealClock, VirtualClock
from ._errors import Forbidden, InvalidRequest, NotFound, Unauthorized
from ._scheduler import Scheduler, Timer
from ._settings import Settings
from ._spec import Spec, load_spec
from ._store import MemoryStore, Store
from ._tasks import Plan, Task, VideoRequest

#: Called once when a task reaches its terminal state, at the simulated time it ended.
EndListener = Callable[[Task, float], None]

TASK_ID_PREFIX = "task-unified-"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_MAX_LISTED_ERRORS = 5


def make_clock(settings: Settings) -> Clock:
    if settings.clock == "virtual":
        return VirtualClock(settings.start_time)
    return RealClock(settings.speed, settings.start_time)


def _has_lone_surrogate(value: Any) -> str | None:
    """The dotted path of the first string that is not valid Unicode, if any."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ""
        return None
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        path = _has_lone_surrogate(item)
        if path is not None:
            return f"{key}.{path}" if path else str(key)
    return None


class Simulator:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        spec: Spec | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.spec = spec or load_spec()
        self.clock = clock or make_clock(self.settings)
        self.scheduler = Scheduler(self.clock)
        self.store: Store = store if store is not None else MemoryStore()
        self._end_listeners: list[EndListener] = []
        self._end_timers: dict[str, Timer] = {}
        self._defaults = {
            name: prop.get("default", prop.get("example"))
            for name, prop in self.spec.request_schema["properties"].items()
        }

    # -- time ----------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        """Virtual clock only: move time forward, running what falls due. Returns the new time."""
        if not isinstance(self.clock, VirtualClock):
            raise InvalidRequest(
                "The clock is real: start the server with --clock virtual to advance it",
                param="seconds",
            )
        return self.scheduler.advance(seconds)

    # -- auth ----------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str:
        """The API key of a `Bearer` authorization header, or Unauthorized."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
            raise Unauthorized()
        if self.settings.api_keys is not None and token not in self.settings.api_keys:
            raise Unauthorized()
        return token

    # -- create --------------------------------------------------------------------------------

    def parse_request(self, body: object) -> VideoRequest:
        """Check a create body against the spec's schema; fill in the documented defaults."""
        errors = self.spec.request_errors(body)
        if errors:
            detail = "; ".join(str(e) for e in errors[:_MAX_LISTED_ERRORS])
            raise InvalidRequest(
                f"Invalid request parameters: {detail}", param=errors[0].field or None
            )
        assert isinstance(body, dict)
        bad = _has_lone_surrogate(body)
        if bad is not None:
            raise InvalidRequest(
                f"Invalid request parameters: {bad}: not valid Unicode (lone surrogate)", param=bad
            )
        merged = {**self._defaults, **{k: v for k, v in body.items() if v is not None}}
        return VideoRequest(
            model=merged["model"],
            prompt=merged["prompt"],
            aspect_ratio=merged["aspect_ratio"],
            duration=int(merged["duration"]),
            quality=merged["quality"],
            image_urls=tuple(merged.get("image_urls") or ()),
            callback_url=merged.get("callback_url"),
        )

    def _new_task_id(self, now: float) -> str:
        while True:
            suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
            task_id = f"{TASK_ID_PREFIX}{int(now)}-{suffix}"
            if task_id not in self.store:
                return task_id

    def plan_for(self, request: VideoRequest, now: float) -> Plan:
        timings = self.settings.timings
        started = now + timings.queue_seconds
        return Plan(
            created=now, started=started, finished=started + timings.processing_seconds(request)
        )

    def create_task(self, owner: str, request: VideoRequest, base_url: str) -> Task:
        now = self.now()
        task = Task(
            id=self._new_task_id(now),
            owner=owner,
            request=request,
            plan=self.plan_for(request, now),
            credits=self.settings.pricing.credits(request),
            base_url=base_url.rstrip("/"),
        )
        self.store.add(task)
        self._schedule_end(task)
        return task

    # -- the end of a task ---------------------------------------------------------------------

    def on_task_end(self, listener: EndListener) -> None:
        """Call `listener(task, ended_at)` once for every task when it ends (billing, callbacks)."""
        self._end_listeners.append(listener)

    def _schedule_end(self, task: Task) -> None:
        previous = self._end_timers.pop(task.id, None)
        if previous is not None:
            previous.cancel()
        self._end_timers[task.id] = self.scheduler.call_at(
            task.plan.ended, lambda when: self._task_ended(task, when)
        )

    def _task_ended(self, task: Task, when: float) -> None:
        self._end_timers.pop(task.id, None)
        for listener in self._end_listeners:
            listener(task, when)

    # -- query ---------------------------------------------------------------------------------

    def get_task(self, owner: str, task_id: str) -> Task:
        if not task_id.startswith(TASK_ID_PREFIX):
            raise InvalidRequest(param="task_id")
        task = self.store.get(task_id)
        if task is None:
            raise NotFound()
        if task.owner != owner:
            raise Forbidden()
        return task

    def task_for_video(self, task_id: str) -> Task | None:
        """The completed task whose result link is still live, if any (links need no key)."""
        task = self.store.get(task_id)
        now = self.now()
        if task is None or task.plan.failure is not None or now < task.plan.ended:
            return None
        return task if now < task.result_expires() else None

    # -- admin ---------------------------------------------------------------------------------

    def reset(self) -> None:
        self.store.clear()
        self.scheduler.clear()
        self._end_timers.clear()
