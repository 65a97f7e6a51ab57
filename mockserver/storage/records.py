"""What a store writes down, as named records: one place to add a field, the same for every store.

Each record is a mapping of plain values (strings, numbers, None, lists) under names, never a row
read back by position. The Redis store keeps each as a JSON object carrying `v`, the record
format it was written in (`FORMAT`); SQLite keeps the same names as its columns, under the file's
layout version. A reader meets a format it does not know with `UnknownFormat`, never a guess.

Format 1 (release 497264d) kept a task and a journal entry as JSON lists, by position; `legacy_task`
and `legacy_entry` read them, for a store migrating what that release wrote. Format 3 adds to a
task what its model's data file says of it (`billing_rule`, `object`, `output_type`); a format 2
record, which has none, reads as format 3 with the values every task of those releases had (one
model, `sora-2-pro-preview`, billed per second): format 2 needs no rewriting to be read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..domain.deliveries import Attempt, Delivery, Outcome
from ..domain.faults import Fault
from ..domain.files import StoredFile
from ..domain.idempotency import Claim
from ..domain.journal import Entry, shown_headers
from ..domain.tasks import Failure, Plan, Task, VideoRequest
from .base import ClockState

#: The record format this code writes.
FORMAT = 3
#: The formats it reads: 2 is 3 without a task's model fields (`PRE_MODEL_FIELDS`).
READS = frozenset({2, FORMAT})
#: What a task of format 2 was: the one model those releases served, as its data file says.
PRE_MODEL_FIELDS = {
    "billing_rule": "per_second",
    "object": "video.generation.task",
    "output_type": "video",
}

Record = dict[str, Any]


class UnknownFormat(ValueError):
    """A record of a format this code does not read (written by a newer release)."""


def _checked(record: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    version = record.get("v", FORMAT)
    if version not in READS:
        raise UnknownFormat(
            f"a {kind} record of format {version!r}; this release reads {sorted(READS)}"
        )
    return record


# -- tasks ----------------------------------------------------------------------------------------

#: A task's fields, in the order SQLite's columns list them.
TASK_FIELDS = (
    "id",
    "owner",
    "model",
    "prompt",
    "aspect_ratio",
    "duration",
    "quality",
    "image_urls",
    "callback_url",
    "created",
    "started",
    "finished",
    "failure_code",
    "failure_message",
    "failure_progress",
    "stopped",
    "curve",
    "price",
    "base_url",
    "callback_scenario",
    "billing_rule",
    "object",
    "output_type",
)
#: The fields a cancel changes.
PLAN_FIELDS = TASK_FIELDS[9:17]


def plan_record(plan: Plan) -> Record:
    failure = plan.failure
    return {
        "created": plan.created,
        "started": plan.started,
        "finished": plan.finished,
        "failure_code": None if failure is None else failure.code,
        "failure_message": None if failure is None else failure.message,
        "failure_progress": None if failure is None else failure.at_progress,
        "stopped": plan.stopped,
        "curve": _json(plan.curve) if plan.curve else None,
    }


def task_record(task: Task) -> Record:
    """A task under its field names (`TASK_FIELDS`); `price` is what it costs."""
    request = task.request
    return {
        "id": task.id,
        "owner": task.owner,
        "model": request.model,
        "prompt": request.prompt,
        "aspect_ratio": request.aspect_ratio,
        "duration": request.duration,
        "quality": request.quality,
        "image_urls": _json(request.image_urls) if request.image_urls else None,
        "callback_url": request.callback_url,
        **plan_record(task.plan),
        "price": task.price,
        "base_url": task.base_url,
        "callback_scenario": task.callback_scenario,
        "billing_rule": task.billing_rule,
        "object": task.object,
        "output_type": task.output_type,
    }


def task_from(record: Mapping[str, Any]) -> Task:
    record = _checked(record, "task")
    code, curve, image_urls = record["failure_code"], record["curve"], record["image_urls"]
    failure = (
        None
        if code is None
        else Failure(code, record["failure_message"], int(record["failure_progress"]))
    )
    return Task(
        id=record["id"],
        owner=record["owner"],
        request=VideoRequest(
            model=record["model"],
            prompt=record["prompt"],
            aspect_ratio=record["aspect_ratio"],
            duration=int(record["duration"]),
            quality=record["quality"],
            image_urls=tuple(loads(image_urls)) if image_urls else (),
            callback_url=record["callback_url"],
        ),
        plan=Plan(
            record["created"],
            record["started"],
            record["finished"],
            failure,
            record["stopped"],
            tuple((float(t), float(p)) for t, p in loads(curve)) if curve else (),
        ),
        price=float(record["price"]),
        base_url=record["base_url"],
        callback_scenario=record["callback_scenario"],
        # absent (Redis) or NULL (SQLite) in a task kept before format 3
        billing_rule=record.get("billing_rule") or PRE_MODEL_FIELDS["billing_rule"],
        object=record.get("object") or PRE_MODEL_FIELDS["object"],
        output_type=record.get("output_type") or PRE_MODEL_FIELDS["output_type"],
    )


def legacy_task(row: list[Any]) -> Record:
    """A task as format 1 kept it (a list in the order of `TASK_FIELDS` before format 3 added
    the model's fields), as a record."""
    fields = TASK_FIELDS[: -len(PRE_MODEL_FIELDS)]
    if len(row) != len(fields):
        raise UnknownFormat(f"a task row of {len(row)} values; format 1 has {len(fields)}")
    return {"v": FORMAT, **dict(zip(fields, row, strict=True)), **PRE_MODEL_FIELDS}


# -- the journal ----------------------------------------------------------------------------------

ENTRY_FIELDS = Entry._fields


def entry_record(entry: Entry) -> Record:
    """An entry, its headers as the journal shows them (credentials redacted: never stored)."""
    return {**entry._asdict(), "headers": list(shown_headers(entry.headers).items())}


def entry_from(record: Mapping[str, Any]) -> Entry:
    record = _checked(record, "journal entry")
    fields: dict[str, Any] = {name: record.get(name) for name in ENTRY_FIELDS}
    # an entry written before headers were kept has none, and was no replay
    fields["headers"] = tuple(
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in record.get("headers") or ()
    )
    fields["replayed"] = bool(record.get("replayed"))
    return Entry(**fields)


def legacy_entry(row: list[Any]) -> Record:
    """A journal entry as format 1 kept it (a list in `Entry` order), as a record."""
    return {"v": FORMAT, **dict(zip(ENTRY_FIELDS, row, strict=False))}


# -- callback deliveries --------------------------------------------------------------------------


def delivery_record(delivery: Delivery) -> Record:
    """A delivery, its task by id."""
    return {
        "webhook_id": delivery.webhook_id,
        "task_id": delivery.task.id,
        "url": delivery.url,
        "trigger": delivery.trigger,
        "outcome": delivery.outcome.value,
        "attempts": [a.to_json() for a in delivery.attempts],
    }


def delivery_from(record: Mapping[str, Any], task: Callable[[str], Task | None]) -> Delivery | None:
    """The delivery, tied to its task by `task(task_id)`; None if that task is gone."""
    record = _checked(record, "delivery")
    owner = task(record["task_id"])
    if owner is None:
        return None
    return Delivery(
        owner,
        record["url"],
        record["webhook_id"],
        record["trigger"],
        Outcome(record["outcome"]),
        [Attempt(**a) for a in record["attempts"]],
    )


# -- idempotency keys ----------------------------------------------------------------------------

#: A bound key's fields, as SQLite's columns list them (the owner beside them).
CLAIM_FIELDS = ("key", "fingerprint", "expires", "task_id")


def claim_record(claim: Claim, task_id: str) -> Record:
    """A key bound to the task `task_id` by `claim`."""
    return {
        "key": claim.key,
        "fingerprint": claim.fingerprint,
        "expires": claim.expires,
        "task_id": task_id,
    }


def claim_from(record: Mapping[str, Any]) -> tuple[Claim, str]:
    """The claim that bound a key, and its task's id."""
    record = _checked(record, "idempotency key")
    claim = Claim(record["key"], record["fingerprint"], float(record["expires"]))
    return claim, record["task_id"]


# -- uploaded files --------------------------------------------------------------------------------

#: An uploaded file's fields (not its bytes), as SQLite's columns list them.
FILE_FIELDS = tuple(f.name for f in dataclasses.fields(StoredFile))


def file_record(file: StoredFile) -> Record:
    return dataclasses.asdict(file)


def file_from(record: Mapping[str, Any]) -> StoredFile:
    record = _checked(record, "file")
    return StoredFile(**{name: record[name] for name in FILE_FIELDS})


# -- faults and the clock -------------------------------------------------------------------------


def fault_record(fault: Fault) -> Record:
    return {
        "id": fault.id,
        "scenario": fault.scenario,
        "operation": fault.operation,
        "api_key": fault.api_key,
        "remaining": fault.remaining,
    }


def fault_from(record: Mapping[str, Any]) -> Fault:
    record = _checked(record, "fault")
    fields = ("id", "scenario", "operation", "api_key", "remaining")
    return Fault(*(record[name] for name in fields))


def clock_record(state: ClockState) -> Record:
    return state._asdict()


def clock_from(record: Mapping[str, Any]) -> ClockState:
    record = _checked(record, "clock")
    speed = record.get("speed")
    return ClockState(
        "real" if record["kind"] == "real" else "virtual",
        float(speed) if speed not in (None, "") else None,
        float(record["wall"]),
        float(record["sim"]),
    )


def dumps(record: Record) -> str:
    """A record as the JSON a store keeps, with its format."""
    return _json({"v": FORMAT, **record})


def _json(value: Any) -> str:
    """Compact JSON, as text (orjson: a task's record is written on every create and read on
    every query of the Redis store)."""
    return orjson.dumps(value).decode()


#: JSON text (or bytes) to plain values.
loads: Callable[[str | bytes], Any] = orjson.loads
