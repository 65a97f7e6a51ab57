"""Tasks: a request, an owner and a plan. No web imports.

A task's visible state at time t is a pure function of its plan and t: a read is O(1) and nothing
ticks. Because the plan is fixed at creation (or replaced once, by a cancel, from the current time
on), statuses only move forward, progress never drops and a terminal task never changes.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

from .types import JSONObject

#: The `object` of a video task on every page of the vendor (a model's data file says its own).
OBJECT = "video.generation.task"
RESULT_TTL = 24 * 3600.0  # result links expire 24 h after generation (vendor docs)


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED)


class VideoRequest(NamedTuple):
    """A create request that passed validation, with the simulator's defaults filled in."""

    model: str
    prompt: str
    aspect_ratio: str
    duration: int
    quality: str
    image_urls: tuple[str, ...] = ()
    callback_url: str | None = None


class Failure(NamedTuple):
    """How a task fails: its task error, and the progress it had reached."""

    code: str
    message: str
    at_progress: int = 0


#: A point of a progress curve: (simulated time, percent done).
Knot = tuple[float, float]


def _whole_seconds(span: float) -> int:
    """`span` rounded up to a whole second, but for float dust: 83.00000000000001 is 83."""
    return math.ceil(span - 1e-9)


class Plan(NamedTuple):
    """When the task leaves pending, how its progress grows, when it ends, and how it ends.

    Processing runs from `started` to `finished`, where progress would reach 100. Progress grows
    in a straight line between the two, or along `curve`: points (time, percent) between them,
    in order, joined by straight lines; two points at one time make a jump, two at one percent a
    stall. A failure ends the plan where progress first reaches `failure.at_progress`.
    """

    created: float
    started: float
    finished: float  # where progress would reach 100
    failure: Failure | None = None
    #: Set by `failed_from`: the exact time a cancel stopped the plan (recomputing `ended` from
    #: progress would be off by a rounding error, and the end event must fire exactly then).
    stopped: float | None = None
    curve: tuple[Knot, ...] = ()

    def _knots(self) -> tuple[Knot, ...]:
        return ((self.started, 0.0), *self.curve, (self.finished, 100.0))

    @property
    def ended(self) -> float:
        if self.failure is None:
            return self.finished
        if self.stopped is not None:
            return self.stopped
        target = self.failure.at_progress
        if target <= 0:
            return self.started
        if not self.curve:
            return self.started + (self.finished - self.started) * target / 100
        knots = self._knots()
        for (t0, p0), (t1, p1) in itertools.pairwise(knots):
            if p1 >= target:  # the first segment that reaches it
                return t0 if p1 == p0 else t0 + (t1 - t0) * (target - p0) / (p1 - p0)
        return self.finished

    @property
    def final_status(self) -> TaskStatus:
        return TaskStatus.COMPLETED if self.failure is None else TaskStatus.FAILED

    def status_at(self, now: float) -> TaskStatus:
        if now >= self.ended:
            return self.final_status
        if now >= self.started:
            return TaskStatus.PROCESSING
        return TaskStatus.PENDING

    def progress_at(self, now: float, status: TaskStatus | None = None) -> int:
        """Percent done at `now`; `status` is `status_at(now)`, when the caller has it."""
        if status is None:
            status = self.status_at(now)
        if status is TaskStatus.COMPLETED:
            return 100
        if status is TaskStatus.FAILED:
            assert self.failure is not None
            return self.failure.at_progress
        if status is TaskStatus.PENDING:
            return 0
        if self.curve:
            return min(99, math.floor(self._curve_at(now)))
        span = self.finished - self.started
        return min(99, math.floor(100 * (now - self.started) / span)) if span > 0 else 99

    def _curve_at(self, now: float) -> float:
        knots = self._knots()
        # after any knot at `now` (a jump's two): (now, inf) sorts after every (now, percent)
        at = bisect.bisect_right(knots, (now, math.inf))
        if at >= len(knots):
            return 100.0
        (t0, p0), (t1, p1) = knots[at - 1], knots[at]
        return p1 if t1 <= t0 else p0 + (p1 - p0) * (now - t0) / (t1 - t0)

    def estimated_time(self) -> int:
        """Seconds from creation to completion, as the create response promises."""
        return _whole_seconds(self.finished - self.created)

    def duration(self) -> int:
        """Whole seconds from creation to the end, however the task ends (rounded up, as
        `estimated_time`: a completed task took what it promised)."""
        return _whole_seconds(self.ended - self.created)

    def failed_from(self, now: float, failure: Failure) -> Plan:
        """This plan, ended at `now` by `failure`, keeping the progress reached by then."""
        progress = self.progress_at(now)
        failure = failure._replace(at_progress=progress)
        # before `now` the task shows what it showed; from `now` on, failed at `progress`
        return self._replace(started=min(self.started, now), failure=failure, stopped=now)


@dataclass(slots=True)
class Task:
    id: str
    owner: str
    request: VideoRequest
    plan: Plan
    #: what the task costs (reserved at create, charged if it completes)
    price: float
    base_url: str
    #: what a callback scenario does to the task's callback (`duplicate`, `delay:SECONDS`)
    callback_scenario: str | None = None
    #: what its model's data file says a task is and how it is billed (`usage.billing_rule`)
    billing_rule: str = "per_second"
    object: str = OBJECT
    output_type: str = "video"

    def status_at(self, now: float) -> TaskStatus:
        return self.plan.status_at(now)

    def result_url(self) -> str:
        return f"{self.base_url}/_mock/videos/{self.id}.mp4"

    def result_expires(self) -> float:
        return self.plan.ended + RESULT_TTL

    def to_json(self, now: float, *, user_group: str = "default") -> JSONObject:
        """The body of `GET /v1/tasks/{id}` at time `now` (also the create body and callbacks).
        An ended task also says what it was charged (`usage.credits_used`) and how long it took
        (`duration`), as the vendor's clients read them."""
        plan = self.plan
        status = plan.status_at(now)
        # pending is the answer to every create: its progress needs no second lookup
        progress = 0 if status is TaskStatus.PENDING else plan.progress_at(now, status)
        usage: JSONObject = {
            "billing_rule": self.billing_rule,
            "credits_reserved": self.price,
            "user_group": user_group,
        }
        body: JSONObject = {
            "created": int(plan.created),
            "id": self.id,
            "model": self.request.model,
            "object": self.object,
            "progress": progress,
            "status": status,  # a StrEnum: a str to json and orjson, with no `.value` call
            "task_info": {
                "can_cancel": status is TaskStatus.PENDING or status is TaskStatus.PROCESSING,
                "estimated_time": plan.estimated_time(),
                "video_duration": self.request.duration,
            },
            "type": self.output_type,
            "usage": usage,
        }
        if status is TaskStatus.COMPLETED:
            body["results"] = [self.result_url()]
        elif status is TaskStatus.FAILED:
            assert self.plan.failure is not None
            body["error"] = {
                "code": self.plan.failure.code,
                "message": self.plan.failure.message,
                "type": "task_error",
            }
        else:
            return body
        # ended: what it was charged (a failed task nothing) and how long it took
        usage["credits_used"] = self.price if status is TaskStatus.COMPLETED else 0.0
        body["duration"] = plan.duration()
        return body
