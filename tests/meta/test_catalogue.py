"""One catalogue: the code's and `evolink-mock scenarios`' are the same (the site's page is
written from it: tests/meta/test_docs.py)."""

from __future__ import annotations

import pytest

from mockserver import load_spec
from mockserver.cli.main import main
from mockserver.domain.scenarios import TASK_FAILURES, catalogue, parse_scenario

SPEC = load_spec()


def test_the_cli_lists_every_scenario_with_its_trigger(capsys: pytest.CaptureFixture[str]) -> None:
    main(["scenarios"])
    out = capsys.readouterr().out

    for entry in catalogue(SPEC):
        assert f"{entry.name} " in out
        assert f"trigger: X-Mock-Scenario: {entry.trigger}" in out
    assert "POST /_mock/faults" in out


def test_the_catalogue_covers_every_documented_error_and_task_failure() -> None:
    names = {entry.name for entry in catalogue(SPEC)}

    assert {e.code for errors in SPEC.errors.values() for e in errors.values()} <= names
    assert {f"fail:{code}" for code in TASK_FAILURES} <= names
    assert len(TASK_FAILURES) == 13


def test_every_listed_trigger_parses() -> None:
    for entry in catalogue(SPEC):
        assert parse_scenario(entry.trigger, SPEC).name == entry.trigger
