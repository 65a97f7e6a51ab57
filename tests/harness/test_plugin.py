"""The pytest plugin is registered, and its fixtures do what they say: one server for the session,
reset for each test, settings from an overridable fixture, a typed handle, clear errors."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import pytest

from mockserver.pytest_plugin import MockServer, MockServerError

from ..bodies import create_body
from ..plugins import lean

pytest_plugins = ["pytester"]


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "evolink_mock"]

    assert entry.value == "mockserver.pytest_plugin"


def test_faults_and_the_journal_through_the_fixture(evolink_mock: MockServer) -> None:
    evolink_mock.fault("internal_error", operation="query", times=1)
    with httpx.Client(base_url=evolink_mock.base_url, headers=evolink_mock.headers) as api:
        created = api.post("/v1/videos/generations", json=create_body(prompt="x"))
        first = api.get(f"/v1/tasks/{created.json()['id']}")
        second = api.get(f"/v1/tasks/{created.json()['id']}")

    assert [created.status_code, first.status_code, second.status_code] == [200, 500, 200]
    assert [e["scenario"] for e in evolink_mock.requests()] == [None, "internal_error", None]


def test_advance_moves_the_simulators_clock(evolink_mock: MockServer) -> None:
    assert evolink_mock.simulator is not None  # the session's own server, in this process
    before = evolink_mock.simulator.now()

    assert evolink_mock.advance(12.5) == before + 12.5


def test_only_the_fixtures_key_is_accepted(evolink_mock: MockServer) -> None:
    response = httpx.post(
        f"{evolink_mock.base_url}/v1/videos/generations",
        json=create_body(prompt="x"),
        headers={"Authorization": "Bearer sk-someone-else"},
    )

    assert response.status_code == 401


def test_an_admin_call_the_simulator_refuses_says_what_it_said(evolink_mock: MockServer) -> None:
    with pytest.raises(MockServerError, match=r"POST /_mock/faults answered 400: .*'nope'"):
        evolink_mock.fault("nope")


SESSION = """
import json, pathlib
import httpx

BODY = {"model": "sora-2-pro-preview", "prompt": "a cat"}


def test_first(evolink_mock, evolink_receiver):
    with httpx.Client(base_url=evolink_mock.base_url, headers=evolink_mock.headers) as api:
        api.post("/v1/videos/generations", json={**BODY, "callback_url": evolink_receiver.url()})
    evolink_mock.advance(3600)
    evolink_receiver.script = [500]
    assert len(evolink_mock.requests()) == 1
    assert len(evolink_receiver.requests) == 1
    pathlib.Path("first.json").write_text(json.dumps(evolink_mock.base_url))


def test_second(evolink_mock, evolink_receiver):
    assert json.loads(pathlib.Path("first.json").read_text()) == evolink_mock.base_url
    assert evolink_mock.requests() == []
    assert evolink_mock.callbacks() == []
    assert evolink_receiver.requests == []
    assert evolink_receiver.script == [200]
    with httpx.Client(base_url=evolink_mock.base_url, headers=evolink_mock.headers) as api:
        listing = api.get("/_mock/tasks").json()
    assert listing == []
"""


@pytest.mark.processes
def test_one_server_serves_the_session_and_each_test_starts_from_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_session=SESSION)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *lean(SESSION))

    result.assert_outcomes(passed=2)


OVERRIDDEN = """
import dataclasses

import httpx
import pytest


@pytest.fixture(scope="session")
def evolink_mock_settings(evolink_mock_settings):
    return dataclasses.replace(
        evolink_mock_settings, prompt_markers=True, admin_token="plugin-admin"
    )


def test_the_overridden_settings_apply(evolink_mock):
    # behind an admin token, the handle's admin calls carry it
    assert httpx.get(evolink_mock.base_url + "/_mock/faults").status_code == 401
    body = {"model": "sora-2-pro-preview", "prompt": "a cat [mock:fail:service_error]"}
    with httpx.Client(base_url=evolink_mock.base_url, headers=evolink_mock.headers) as api:
        task = api.post("/v1/videos/generations", json=body).json()
        evolink_mock.advance(3600)
        failed = api.get(f"/v1/tasks/{task['id']}").json()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "service_error"
    assert evolink_mock.simulator.settings.prompt_markers
"""


@pytest.mark.processes
def test_settings_come_from_an_overridable_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_overridden=OVERRIDDEN)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *lean(OVERRIDDEN))

    result.assert_outcomes(passed=1)


def test_a_lean_run_keeps_the_plugins_a_project_uses() -> None:
    # the subprocess runs above leave out schemathesis and Hypothesis only where unused
    assert lean("import httpx") == ["-p", "no:schemathesis", "-p", "no:hypothesispytest"]
    assert lean("from hypothesis import given") == ["-p", "no:schemathesis"]
    assert lean("import schemathesis") == []
