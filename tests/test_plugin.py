"""The pytest plugin is registered, and its fixtures do what they say."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx

from mockserver.pytest_plugin import MockServer


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "evolink_mock"]

    assert entry.value == "mockserver.pytest_plugin"


def test_faults_and_the_journal_through_the_fixture(evolink_mock: MockServer) -> None:
    evolink_mock.fault("internal_error", operation="query", times=1)
    with httpx.Client(base_url=evolink_mock.base_url, headers=evolink_mock.headers) as api:
        created = api.post(
            "/v1/videos/generations", json={"model": "sora-2-pro-preview", "prompt": "x"}
        )
        first = api.get(f"/v1/tasks/{created.json()['id']}")
        second = api.get(f"/v1/tasks/{created.json()['id']}")

    assert [created.status_code, first.status_code, second.status_code] == [200, 500, 200]
    assert [e["scenario"] for e in evolink_mock.requests()] == [None, "internal_error", None]


def test_advance_moves_the_simulators_clock(evolink_mock: MockServer) -> None:
    before = evolink_mock.simulator.now()

    assert evolink_mock.advance(12.5) == before + 12.5


def test_only_the_fixtures_key_is_accepted(evolink_mock: MockServer) -> None:
    response = httpx.post(
        f"{evolink_mock.base_url}/v1/videos/generations",
        json={"model": "sora-2-pro-preview", "prompt": "x"},
        headers={"Authorization": "Bearer sk-someone-else"},
    )

    assert response.status_code == 401
