"""The benchmark scripts still run (tiny sizes; figures come from running them for real)."""

from __future__ import annotations

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
