"""The `no_cover` marker holds on xdist workers: the root conftest stops the tracer
pytest-cov 7.1 starts there besides the worker's own (conftest.py says how it goes wrong)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT_CONFTEST = Path(__file__).resolve().parents[2] / "conftest.py"

TESTS = """
import sys
from pathlib import Path

import pytest

@pytest.mark.no_cover
def test_unmeasured():
    Path("unmeasured.txt").write_text(repr(sys.gettrace()))

def test_measured():
    Path("measured.txt").write_text(repr(sys.gettrace()))
"""


@pytest.mark.processes
@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_no_cover_test_runs_untraced(pytester: pytest.Pytester, workers: str) -> None:
    pytester.makeconftest(ROOT_CONFTEST.read_text())
    pytester.makepyfile(test_traces=TESTS)

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", workers, f"--cov={pytester.path}", "--cov-report="
    )

    result.assert_outcomes(passed=2)
    assert (pytester.path / "unmeasured.txt").read_text() == "None"
    assert "CTracer" in (pytester.path / "measured.txt").read_text()  # coverage was on
