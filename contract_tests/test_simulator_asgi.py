"""Schemathesis against the simulator in-process: every check, coverage + fuzzing + stateful."""

from __future__ import annotations

from collections import Counter
from typing import Any

import schemathesis
from schemathesis.python.asgi import HOST, get_client
from schemathesis.specs.openapi.stateful import OpenAPIStateMachine
from starlette.applications import Starlette

from evolink_contract.settings import OWNER as KEY

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_conforms(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


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
            with get_client(app) as admin:  # type: ignore[arg-type]  # any ASGI app
                assert admin.post(f"http://{HOST}/_mock/reset").status_code == 200

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            statuses[(case.operation.label, response.status_code)] += 1

    Recording.run()

    # The link was followed: a task the create answered was then read back by its owner.
    assert statuses[("POST /v1/videos/generations", 200)] > 0
    assert statuses[("GET /v1/tasks/{task_id}", 200)] > 0


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
