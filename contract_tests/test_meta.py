"""The harness must fail: each deliberately broken simulator is caught, the clean one passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evolink_contract.settings import OWNER, schemathesis_config

from .harness import markdown, run_harness
from .mutants import names

README = Path(__file__).with_name("README.md")

pytestmark = pytest.mark.slow

#: For each mutant, the check that must catch it (others may too). Kept beside the table in
#: contract_tests/README.md, which `python -m contract_tests.meta` prints.
EXPECTED = {
    "crash-on-unicode": "not_a_server_error",
    "auth-ignored": "ignored_auth",
    "foreign-task-readable": "only_owner_can_read",
    "foreign-task-in-batch": "bulk_reads_hide_foreign_tasks",
    "idempotency-key-ignored": "idempotency_key_honoured",
    "task-lost": "owner_can_read",
    "undeclared-field": "no_undeclared_fields",
    "missing-required-field": "response_schema_conformance",
    "wrong-error-envelope": "response_schema_conformance",
    "status-backward": "status_moves_forward",
    "progress-drops": "progress_never_drops",
    "results-missing": "results_exactly_when_completed",
    "callback-body-differs": "callback_body_equals_get",
    "retry-off-by-one": "callback_retry_schedule",
}


def test_every_mutant_has_an_expected_check() -> None:
    assert set(EXPECTED) <= set(names())
    assert len(names()) >= 8


@pytest.mark.no_cover  # generated input (pyproject.toml's `no_cover`); the mutants' runs are
# measured: only they run the checks' failure paths
def test_the_clean_simulator_passes_the_whole_harness() -> None:
    assert run_harness(None) == []


@pytest.mark.parametrize("mutant", sorted(EXPECTED))
def test_each_broken_simulator_is_caught_by_its_check(mutant: str) -> None:
    # the harness stops at the first of its parts that catches the mutant with its check; the
    # full table (every check that catches each) is `python -m contract_tests.meta`'s
    caught = {finding.check for finding in run_harness(mutant, until=EXPECTED[mutant])}

    assert EXPECTED[mutant] in caught, f"{mutant} was caught only by {sorted(caught)}"


def test_the_readme_lists_every_mutant_with_its_check() -> None:
    text = README.read_text(encoding="utf-8")
    table = re.search(r"<!-- meta:start -->\n(.*?)\n<!-- meta:end -->", text, re.S)
    assert table is not None
    for mutant, check in EXPECTED.items():
        row = next(
            (line for line in table.group(1).splitlines() if f"| `{mutant}` |" in line), None
        )
        assert row is not None, f"{mutant} missing from contract_tests/README.md"
        assert f"`{check}`" in row


def test_markdown_renders_a_row_per_variant() -> None:
    rendered = markdown([("(none)", "as shipped", []), ("x", "breaks", ["a", "b"])])

    assert "| `(none)` | as shipped | nothing (passes) |" in rendered
    assert "| `x` | breaks | `a`, `b` |" in rendered


def test_a_run_that_asks_which_checks_fail_does_not_shrink() -> None:
    # what `run_harness(..., until=...)` gives schemathesis; every other run shrinks as usual
    quick = schemathesis_config(OWNER, shrink=False).projects.default.generation
    usual = schemathesis_config(OWNER).projects.default.generation

    assert (quick.no_shrink, usual.no_shrink) == (True, False)
    assert quick.max_examples == usual.max_examples
