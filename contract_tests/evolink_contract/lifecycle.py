"""A state machine for the async-job rules that OpenAPI links cannot express.

Hypothesis creates tasks, reads them as their owner (once, or twice in a row as a fast poller
does) and as a stranger, and (on a virtual clock) moves time, checking after every read: a
created task is readable by its owner and only by its owner, statuses only move forward,
progress never drops, a terminal task never changes, and `results` / `error` appear exactly when
completed / failed. It talks HTTP to any base URL.
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from mockserver import load_spec

from .checks import PAIR_RULES, TASK_RULES, ContractViolation

SPEC = load_spec()


def create_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Valid create bodies of every served model, each field's values read from the page of
    the model drawn (sora-2-preview has no `quality`)."""
    return st.sampled_from(SPEC.models).flatmap(_model_bodies)


def _model_bodies(model: str) -> st.SearchStrategy[dict[str, Any]]:
    properties = SPEC.request_schemas[model]["properties"]
    optional = {
        name: st.sampled_from(properties[name]["enum"])
        for name in ("aspect_ratio", "duration", "quality")
        if name in properties
    }
    prompt_limit = properties["prompt"]["maxLength"]
    return st.fixed_dictionaries(
        {
            "model": st.just(model),
            "prompt": st.text(min_size=1, max_size=min(prompt_limit, 60)).filter(str.strip),
        },
        optional=optional,
    )


#: How many 3 s moves `poll_twice_as_owner` makes at most to reach a task's processing.
_INTO_PROCESSING = 20


def _early(task: dict[str, Any]) -> bool:
    """Pending, or processing below 10 %: before the part of a task's life where progress can
    be seen to drop."""
    progress = task.get("progress")
    return task.get("status") == "pending" or (
        task.get("status") == "processing" and isinstance(progress, int) and progress < 10
    )


class TaskLifecycle(RuleBasedStateMachine):
    """Configured by `machine_for`: a client, the owner's and a stranger's keys."""

    client: httpx.Client
    owner: str
    stranger: str
    can_advance: bool
    #: every rule broken, in order: kept here as well as raised, so that the run reports it
    #: even when Hypothesis does not re-raise it (seen in loaded parallel runs)
    violations: list[ContractViolation]

    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, dict[str, Any]] = {}
        if self.can_advance:  # a simulator: start each example from nothing, so runs replay
            self.client.post("/_mock/reset").raise_for_status()

    def _get(self, task_id: str, key: str) -> httpx.Response:
        return self.client.get(f"/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"})

    @rule(target=tasks, body=create_bodies())
    def create(self, body: dict[str, Any]) -> str:
        response = self.client.post(
            "/v1/videos/generations", json=body, headers={"Authorization": f"Bearer {self.owner}"}
        )
        if response.status_code != 200:
            raise self._broken(
                "valid_create_accepted",
                f"a valid create answered {response.status_code}: {response.text[:200]}",
            )
        task = response.json()
        self._observe(task)
        task_id: str = task["id"]
        return task_id

    @rule(task_id=tasks)
    def read_as_owner(self, task_id: str) -> None:
        self._owner_read(task_id)

    def _owner_read(self, task_id: str) -> dict[str, Any]:
        response = self._get(task_id, self.owner)
        if response.status_code != 200:
            raise self._broken(
                "owner_can_read", f"the owner's read of {task_id} answered {response.status_code}"
            )
        task: dict[str, Any] = response.json()
        self._observe(task)
        return task

    @rule(task_id=tasks)
    def poll_twice_as_owner(self, task_id: str) -> None:
        """Reads with no time between, as a fast poller makes them; where the harness moves the
        clock, first into the task's processing (progress 10 or more; at most `_INTO_PROCESSING`
        moves of 3 s), so that three reads see one moment of a running task. Without it a walk
        seldom read one processing task twice before time moved on, and whether a drop in
        progress showed hung on Hypothesis's draws (which take constants from every module
        loaded)."""
        task = self._owner_read(task_id)
        for _ in range(_INTO_PROCESSING if self.can_advance else 0):
            if not _early(task):
                break
            self.advance(3)
            task = self._owner_read(task_id)
        self._owner_read(task_id)
        self._owner_read(task_id)

    @rule(task_id=tasks)
    def read_as_stranger(self, task_id: str) -> None:
        response = self._get(task_id, self.stranger)
        if response.status_code not in (401, 403):
            raise self._broken(
                "only_owner_can_read",
                f"another key's read of {task_id} answered {response.status_code}",
            )

    @precondition(lambda self: self.can_advance)
    @rule(seconds=st.sampled_from([1, 3, 8, 12, 20, 60, 300]))
    def advance(self, seconds: float) -> None:
        self.client.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()

    def _broken(self, check: str, message: str) -> ContractViolation:
        violation = ContractViolation(check, message)
        self.violations.append(violation)
        return violation

    def _observe(self, task: dict[str, Any]) -> None:
        try:
            for check in TASK_RULES:
                check(task)
            earlier = self.seen.get(task["id"])
            if earlier is not None:
                for pair_check in PAIR_RULES:
                    pair_check(earlier, task)
        except ContractViolation as violation:
            self.violations.append(violation)
            raise
        self.seen[task["id"]] = task


def machine_for(
    client: httpx.Client, owner: str, stranger: str, *, can_advance: bool
) -> type[TaskLifecycle]:
    return type(
        "TaskLifecycle",
        (TaskLifecycle,),
        {
            "client": client,
            "owner": owner,
            "stranger": stranger,
            "can_advance": can_advance,
            "violations": [],
        },
    )


def run_lifecycle(
    base_url: str,
    owner: str,
    stranger: str,
    *,
    max_examples: int = 25,
    steps: int = 20,
    shrink: bool = True,
) -> None:
    """Run the state machine against a server; raises ContractViolation on the first rule broken.

    Derandomized: the same server gives the same run, so a failure reproduces."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        clock = client.get("/_mock/clock")
        can_advance = clock.status_code == 200 and clock.json().get("kind") == "virtual"
        machine = machine_for(client, owner, stranger, can_advance=can_advance)
        config = settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
            # shrinking replays over HTTP: worth it for a person, not to learn *whether* it fails
            phases=[p for p in Phase if shrink or p not in (Phase.shrink, Phase.explain)],
        )
        run_state_machine_as_test(machine, settings=config)
        if machine.violations:
            raise machine.violations[0]
