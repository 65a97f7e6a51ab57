"""`bulk_reads_own_tasks` and `bulk_reads_hide_foreign_tasks`: the simulator passes them at the
cost of one task, and each way a server can break them is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from evolink_contract.bulk import BODY, FOREIGN, OWN, check_bulk_reads
from evolink_contract.checks import ContractViolation
from evolink_contract.settings import OWNER, STRANGER
from mockserver import Settings
from mockserver.domain.timing import FAST
from mockserver.testing import serve_in_thread

from . import mutants

TASK = "task-unified-1757169743-first001"
CREATED = {"id": TASK, "object": "video.generation.task", "status": "pending", "progress": 0}
FOUND: dict[str, Any] = {"data": [CREATED]}
NONE: dict[str, Any] = {"data": []}


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[str]:
    """The simulator (or the mutant the test is parametrized with), over a socket."""
    settings = Settings(timings=FAST, api_keys=frozenset({OWNER, STRANGER}), clock="virtual")
    with serve_in_thread(mutants.build(getattr(request, "param", None), settings)) as base_url:
        yield base_url


def test_the_simulator_passes_and_makes_one_task(served: str) -> None:
    check_bulk_reads(served, OWNER, STRANGER)

    made = httpx.get(f"{served}/_mock/tasks").json()
    assert [task["prompt"] for task in made] == [BODY["prompt"]]


@pytest.mark.parametrize("served", ["foreign-task-in-batch"], indirect=True)
def test_a_batch_that_answers_another_keys_task_is_caught(served: str) -> None:
    with pytest.raises(ContractViolation, match="another key's batch read") as caught:
        check_bulk_reads(served, OWNER, STRANGER)

    assert caught.value.check == FOREIGN


def server(
    owner_batch: tuple[int, Any] = (200, FOUND),
    owner_list: tuple[int, Any] = (200, FOUND),
    their_batch: tuple[int, Any] = (200, NONE),
    their_list: tuple[int, Any] = (200, NONE),
) -> httpx.MockTransport:
    """A server whose create makes TASK, and that answers each bulk read as given."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/videos/generations":
            return httpx.Response(200, json=CREATED)
        mine = request.headers["authorization"] == f"Bearer {OWNER}"
        batch = request.url.path == "/v1/tasks/batch"
        status, body = {
            (True, True): owner_batch,
            (True, False): owner_list,
            (False, True): their_batch,
            (False, False): their_list,
        }[(mine, batch)]
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("transport", "check", "message"),
    [
        (server(owner_batch=(200, NONE)), OWN, "the owner's batch read .* left it out"),
        (server(owner_batch=(405, {})), OWN, "the owner's batch read .* answered 405"),
        (server(owner_batch=(200, {"tasks": []})), OWN, "batch read .* answered 200"),
        (server(owner_list=(200, NONE)), OWN, "the owner's listing does not show"),
        (server(owner_list=(404, {})), OWN, "the owner's listing answered 404"),
        (server(their_batch=(200, FOUND)), FOREIGN, "answered the owner's task"),
        (server(their_batch=(500, {})), FOREIGN, "another key's batch read answered 500"),
        (server(their_list=(200, FOUND)), FOREIGN, "another key's listing shows"),
    ],
    ids=[
        "own-batch-empty",
        "own-batch-refused",
        "own-batch-no-data",
        "own-list-empty",
        "own-list-missing",
        "foreign-batch",
        "foreign-batch-error",
        "foreign-list",
    ],
)
def test_each_way_to_break_the_rules_is_named(
    transport: httpx.MockTransport, check: str, message: str
) -> None:
    with pytest.raises(ContractViolation, match=message) as caught:
        check_bulk_reads("http://server", OWNER, STRANGER, transport=transport)

    assert caught.value.check == check


@pytest.mark.parametrize("status", [401, 403])
def test_another_key_refused_outright_passes(status: int) -> None:
    refused = (status, {"error": {"code": "unauthorized"}})

    check_bulk_reads(
        "http://server", OWNER, STRANGER, transport=server(their_batch=refused, their_list=refused)
    )
