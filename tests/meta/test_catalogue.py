"""One catalogue: the code's, `evolink-mock scenarios`' and the README's are the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mockserver import load_spec
from mockserver.cli.main import main
from mockserver.domain.scenarios import TASK_FAILURES, catalogue, markdown_table, parse_scenario

README = Path(__file__).resolve().parents[2] / "README.md"
SPEC = load_spec()


def test_the_readme_table_is_the_catalogue() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- scenarios:start -->\n(.*?)\n<!-- scenarios:end -->", text, re.S)
    assert found is not None, "README.md lacks the scenarios table markers"
    assert found.group(1) == markdown_table(SPEC), (
        "regenerate with: evolink-mock scenarios --markdown"
    )


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
