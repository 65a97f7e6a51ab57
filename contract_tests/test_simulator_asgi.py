"""Schemathesis against the simulator in-process: every check, coverage + fuzzing + stateful."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from schemathesis.python.asgi import HOST, get_client
from schemathesis.specs.openapi.stateful import OpenAPIStateMachine
from starlette.applications import Starlette

from evolink_contract.settings import OWNER as KEY
from evolink_contract.settings import schemathesis_config, stateful_settings

# Not measured for coverage (pyproject.toml's `no_cover`), the module's two short checks with
# its long runs: the tracer doubled the runs' time, and other tests run every line they do.
pytestmark = pytest.mark.no_cover

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_conforms(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


def reset(app: Starlette) -> None:
    """The simulator emptied, through schemathesis's own in-process client."""
    with get_client(app) as admin:  # type: ignore[arg-type]  # any ASGI app
        assert admin.post(f"http://{HOST}/_mock/reset").status_code == 200


def test_stateful_create_then_query_conforms(
    app: Starlette, api_schema: schemathesis.BaseSchema
) -> None:
    base = api_schema.as_state_machine()
    statuses: Counter[tuple[str, int]] = Counter()

    class Recording(base):  # type: ignore[valid-type,misc]
        def setup(self) -> None:
            # Each scenario starts from an empty simulator. The task listing's items feed the
            # links to the task query: a listing that grew since a scenario first ran would
            # make Hypothesis's replay of it draw differently (FlakyStrategyDefinition).
            reset(app)

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)  # the record the stateful checks read
            statuses[(case.operation.label, response.status_code)] += 1

    Recording.run(settings=stateful_settings(api_schema.config))

    # The link was followed: a task the create answered was then read back by its owner.
    assert statuses[("POST /v1/videos/generations", 200)] > 0
    assert statuses[("GET /v1/tasks/{task_id}", 200)] > 0


def test_the_stateful_run_is_as_long_as_the_config_says(app: Starlette) -> None:
    """`--max-examples` bounds the stateful run too: each scenario's creates are charged on a
    paid server. (Left to schemathesis's defaults it ran 100 scenarios, whatever was asked.)"""
    config = schemathesis_config(KEY, max_examples=3)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    calls: list[int] = []  # per scenario

    class Counting(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            reset(app)  # as the run above
            calls.append(0)

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)
            calls[-1] += 1

    Counting.run(settings=stateful_settings(schema.config))

    # three scenarios, and now and then one more that Hypothesis drew invalid (it does not
    # count those toward max_examples): schemathesis's defaults ran 149
    assert 3 <= len(calls) < 20
    assert 1 <= max(calls) <= schema.config.phases.stateful.max_steps
    assert schema.config.phases.stateful.max_steps == 8  # the shared settings file's


def test_an_authenticated_create_answers_200(api_schema: schemathesis.BaseSchema) -> None:
    """A wrong key would make every call 401 and the suites above could still pass."""
    operation = api_schema["/v1/videos/generations"]["POST"]
    case = operation.Case(
        body={"model": "sora-2-pro-preview", "prompt": "A cat playing piano"},
        headers={"Authorization": f"Bearer {KEY}"},
    )

    response = case.call()

    assert response.status_code == 200
    assert response.json()["status"] == "pending"


def test_the_state_machine_class_is_openapi_aware(api_schema: schemathesis.BaseSchema) -> None:
    assert issubclass(api_schema.as_state_machine(), OpenAPIStateMachine)
