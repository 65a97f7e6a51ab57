"""The benchmark scripts still run (tiny sizes; figures come from running them for real)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.processes
def test_query_scale_runs_and_prints_its_figures() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH / "query_scale.py"),
            "--small",
            "20",
            "--large",
            "200",
            "--rounds",
            "1",
            "--queries",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "median ratio 200 / 20 tasks:" in result.stdout
    assert "memory per stored task in the process (tracemalloc):" in result.stdout


def test_the_fuzz_report_reader_counts_cases_and_survives_a_skipped_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    import fuzz  # type: ignore[import-not-found]  # bench/ is a folder of scripts

    ran = {
        "phase": "fuzzing",
        "recorder": {
            "label": "POST /v1/videos/generations",
            "cases": {"a": {}, "b": {}},
            "interactions": {"a": {"response": {"status_code": 400}}, "b": {"response": None}},
            "checks": {"a": [{"name": "not_a_server_error", "status": "failure"}], "b": []},
        },
    }
    # `GET /v1/credits` takes no input: schemathesis skips its negative phase
    skipped = [{"phase": "fuzzing"}, {"phase": "fuzzing", "recorder": {"label": "GET /v1/credits"}}]
    lines = [
        '{"EngineStarted": {}}',
        json.dumps({"ScenarioFinished": ran}),
        *(json.dumps({"ScenarioFinished": s}) for s in skipped),
    ]
    result = fuzz.FuzzResult(seconds=1.0, exit_code=0)

    fuzz.read_report(lines, result)

    assert result.cases == {("fuzzing", "POST /v1/videos/generations"): 2}
    assert result.statuses == {400: 1, None: 1}
    assert result.failed_checks == {"not_a_server_error": 1}


@pytest.mark.processes
def test_startup_runs_and_prints_its_median() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "startup.py"), "--starts", "1", "--target", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "serve to healthy /_mock/health, 1 starts:" in result.stdout
    assert result.stdout.rstrip().endswith("median <= 60 s  PASS")
