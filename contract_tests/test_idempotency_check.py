"""`idempotency_key_honoured`: passes on the simulator at the cost of one task, and names each
way a server can break the rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from evolink_contract.checks import ContractViolation
from evolink_contract.idempotency import BODY, CHECK, check_idempotency
from evolink_contract.settings import OWNER
from mockserver import Settings, VideoRequest
from mockserver.domain.timing import FAST
from mockserver.testing import serve_in_thread

from . import mutants

FIRST = "task-unified-1757169743-first001"
SECOND = "task-unified-1757169743-second02"
REPLAYED = {"Idempotency-Replayed": "true"}
CONFLICT = {
    "error": {
        "code": "idempotency_conflict",
        "type": "invalid_request_error",
        "param": "Idempotency-Key",
        "message": f"Idempotency-Key 'k' was already used with another request: it belongs to "
        f"task {FIRST}. Send a new key for a new request",
    }
}


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """The simulator (or the mutant the test is parametrized with), over a socket."""
    settings = Settings(timings=FAST, api_keys=frozenset({OWNER}), clock="virtual")
    with serve_in_thread(mutants.build(getattr(request, "param", None), settings)) as base_url:
        yield base_url


def test_the_simulator_passes_and_makes_one_task(served: str) -> None:
    check_idempotency(served, OWNER)

    made = httpx.get(f"{served}/_mock/tasks").json()
    (account,) = httpx.get(f"{served}/_mock/accounts").json()
    assert [task["prompt"] for task in made] == [BODY["prompt"]]
    assert account["reserved"] == Settings().models[BODY["model"]].credits(VideoRequest(**BODY))


@pytest.mark.parametrize("served", ["idempotency-key-ignored"], indirect=True)
def test_a_simulator_that_ignores_the_key_is_caught(served: str) -> None:
    with pytest.raises(ContractViolation, match="a second task was made") as caught:
        check_idempotency(served, OWNER)

    assert caught.value.check == CHECK


def task(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "object": "video.generation.task", "status": "pending", "progress": 0}


def answers(
    *script: tuple[int, dict[str, Any], dict[str, str]],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A server that answers the creates in order with (status, body, headers)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        status, body, headers = script[len(sent) - 1]
        return httpx.Response(status, json=body, headers=headers)

    return httpx.MockTransport(handler), sent


HONOURED = [
    (200, task(FIRST), {}),
    (200, task(FIRST), REPLAYED),
    (422, CONFLICT, {}),
    (200, task(FIRST), REPLAYED),
]


def broken(step: int, answer: tuple[int, dict[str, Any], dict[str, str]]) -> list[Any]:
    return [answer if i == step else honoured for i, honoured in enumerate(HONOURED)]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (broken(0, (401, {"error": {}}, {})), "a create with a fresh Idempotency-Key answered 401"),
        (broken(0, (200, task(FIRST), REPLAYED)), "the first create .* answered .*: true"),
        (broken(1, (200, task(SECOND), REPLAYED)), f"answered task {SECOND}, not {FIRST}"),
        (broken(1, (200, task(FIRST), {})), "Idempotency-Replayed no header"),
        (broken(1, (200, task(FIRST), {"Idempotency-Replayed": "yes"})), "Replayed 'yes'"),
        (broken(2, (200, task(FIRST), REPLAYED)), "another request .* answered 200"),
        (broken(2, (409, CONFLICT, {})), "another request .* answered 409"),
        (
            broken(2, (422, {"error": {**CONFLICT["error"], "code": "invalid_request"}}, {})),
            "expected 422 with code idempotency_conflict, type invalid_request_error, "
            "param Idempotency-Key",
        ),
        (
            broken(2, (422, {"error": {**CONFLICT["error"], "message": "in use"}}, {})),
            "does not name the task",
        ),
        (broken(3, (200, task(SECOND), {})), "once more, after .* was refused answered task"),
    ],
    ids=[
        "first-refused",
        "first-says-replayed",
        "replay-makes-a-task",
        "replay-without-header",
        "replay-header-not-true",
        "conflict-answered-200",
        "conflict-is-409",
        "conflict-wrong-code",
        "conflict-names-no-task",
        "conflict-rebinds-the-key",
    ],
)
def test_each_way_to_break_the_rule_is_named(script: list[Any], message: str) -> None:
    transport, _ = answers(*script)

    with pytest.raises(ContractViolation, match=message) as caught:
        check_idempotency("http://server", OWNER, transport=transport)

    assert caught.value.check == CHECK


def test_one_fresh_key_per_run_with_the_second_request_alone_different() -> None:
    keys = []
    for _ in range(2):
        transport, sent = answers(*HONOURED)
        check_idempotency("http://server", OWNER, transport=transport)
        assert {r.url.path for r in sent} == {"/v1/videos/generations"}
        assert len({r.headers["Idempotency-Key"] for r in sent}) == 1
        bodies = [json.loads(r.content) for r in sent]
        assert bodies[0] == bodies[1] == bodies[3] == BODY != bodies[2]
        keys.append(sent[0].headers["Idempotency-Key"])

    assert keys[0] != keys[1]
