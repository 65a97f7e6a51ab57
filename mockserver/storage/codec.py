"""Tasks as rows of plain values (strings, numbers, JSON text, None), the same for every store
that writes them down: one place to add a field."""

from __future__ import annotations

import json
from typing import Any

from ..domain.tasks import Failure, Plan, Task, VideoRequest


def plan_values(plan: Plan) -> tuple[Any, ...]:
    """A plan's columns, in `task_values` order."""
    failure = plan.failure
    return (
        plan.created,
        plan.started,
        plan.finished,
        None if failure is None else failure.code,
        None if failure is None else failure.message,
        None if failure is None else failure.at_progress,
        plan.stopped,
        json.dumps(plan.curve) if plan.curve else None,
    )


def task_values(task: Task) -> tuple[Any, ...]:
    """A task as a row: the columns `task_from` reads back."""
    request = task.request
    return (
        task.id,
        task.owner,
        request.model,
        request.prompt,
        request.aspect_ratio,
        request.duration,
        request.quality,
        json.dumps(list(request.image_urls)) if request.image_urls else None,
        request.callback_url,
        *plan_values(task.plan),
        task.credits,
        task.base_url,
        task.callback_scenario,
    )


def task_from(row: tuple[Any, ...]) -> Task:
    (
        task_id,
        owner,
        model,
        prompt,
        aspect_ratio,
        duration,
        quality,
        image_urls,
        callback_url,
        created,
        started,
        finished,
        failure_code,
        failure_message,
        failure_progress,
        stopped,
        curve,
        credits,
        base_url,
        callback_scenario,
    ) = row
    failure = (
        None
        if failure_code is None
        else Failure(failure_code, failure_message, int(failure_progress))
    )
    return Task(
        id=task_id,
        owner=owner,
        request=VideoRequest(
            model=model,
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            duration=int(duration),
            quality=quality,
            image_urls=tuple(json.loads(image_urls)) if image_urls else (),
            callback_url=callback_url,
        ),
        plan=Plan(
            created,
            started,
            finished,
            failure,
            stopped,
            tuple((float(t), float(p)) for t, p in json.loads(curve)) if curve else (),
        ),
        credits=float(credits),
        base_url=base_url,
        callback_scenario=callback_scenario,
    )
