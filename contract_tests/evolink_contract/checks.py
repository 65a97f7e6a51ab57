"""Contract checks beyond schemathesis' own, as small functions that raise a readable message.

`no_undeclared_fields` is registered with schemathesis (it runs with every case); the async-job
rules take two observations of one task and are used by the lifecycle state machine.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from mockserver import TaskStatus, load_spec

#: How far along each status is: a task's status never moves to a lower rank.
RANK = {
    TaskStatus.PENDING: 0,
    TaskStatus.PROCESSING: 1,
    TaskStatus.COMPLETED: 2,
    TaskStatus.FAILED: 2,
}
TERMINAL = frozenset(status for status in TaskStatus if status.terminal)


class ContractViolation(AssertionError):
    """A broken rule; `check` names the rule, so reports can say which caught what."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def undeclared_fields(data: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of object keys that the schema's `properties` do not declare."""
    components = load_spec().document["components"]
    schema = _resolve(schema, components)
    found: list[str] = []
    if isinstance(data, dict) and "properties" in schema:
        for key, value in data.items():
            if key not in schema["properties"]:
                found.append(f"{path}{key}")
            else:
                found += undeclared_fields(value, schema["properties"][key], f"{path}{key}.")
    elif isinstance(data, list) and "items" in schema:
        for i, item in enumerate(data):
            found += undeclared_fields(item, schema["items"], f"{path}{i}.")
    return found


def response_schema(method: str, path: str, status: int) -> dict[str, Any] | None:
    operation = load_spec().document["paths"].get(path, {}).get(method.lower())
    response = (operation or {}).get("responses", {}).get(str(status))
    content = (response or {}).get("content", {}).get("application/json")
    return None if content is None else dict(content["schema"])


@schemathesis.check
def no_undeclared_fields(ctx: Any, response: Any, case: Any) -> bool | None:
    """A response carries only fields its schema declares (the spec sets no additionalProperties,
    so schema validation alone lets an invented field through)."""
    schema = response_schema(case.operation.method, case.operation.path, response.status_code)
    if schema is None:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    extra = undeclared_fields(data, schema)
    if extra:
        raise AssertionError(f"Undeclared field(s) in the response: {', '.join(extra)}")
    return None


# -- the async-job rules: (earlier, later) observations of one task ----------------------------


def status_moves_forward(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    if RANK[later["status"]] < RANK[earlier["status"]]:
        raise ContractViolation(
            "status_moves_forward",
            f"{later['id']} went from {earlier['status']} to {later['status']}",
        )


def progress_never_drops(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    if later["progress"] < earlier["progress"]:
        raise ContractViolation(
            "progress_never_drops",
            f"{later['id']} progress fell from {earlier['progress']} to {later['progress']}",
        )


def terminal_never_changes(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    if earlier["status"] in TERMINAL and later != earlier:
        changed = sorted(k for k in {*earlier, *later} if earlier.get(k) != later.get(k))
        raise ContractViolation(
            "terminal_never_changes", f"{later['id']} changed after {earlier['status']}: {changed}"
        )


def results_exactly_when_completed(task: dict[str, Any]) -> None:
    if ("results" in task and bool(task["results"])) != (task["status"] == TaskStatus.COMPLETED):
        raise ContractViolation(
            "results_exactly_when_completed",
            f"{task['id']} is {task['status']} with results={task.get('results')!r}",
        )


def error_exactly_when_failed(task: dict[str, Any]) -> None:
    if ("error" in task) != (task["status"] == TaskStatus.FAILED):
        raise ContractViolation(
            "error_exactly_when_failed",
            f"{task['id']} is {task['status']} with error={task.get('error')!r}",
        )


def required_fields_present(task: dict[str, Any]) -> None:
    schema = load_spec().document["components"]["schemas"]["TaskDetailResponse"]
    missing = [name for name in schema["required"] if name not in task]
    if missing:
        raise ContractViolation("required_fields_present", f"a task body lacks {missing}: {task}")


PAIR_RULES = (status_moves_forward, progress_never_drops, terminal_never_changes)
TASK_RULES = (required_fields_present, results_exactly_when_completed, error_exactly_when_failed)
