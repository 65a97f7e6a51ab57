"""The nightly drift workflow (`examples/drift-canary.yml`): its canary step is run here as it
is written, against a local simulator instead of the live API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from mockserver import Settings, create_app
from mockserver.testing import serve_in_thread

WORKFLOW = Path(__file__).resolve().parents[1] / "examples" / "drift-canary.yml"


def steps() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(WORKFLOW.read_text())
    return {step["name"]: step for step in document["jobs"]["drift"]["steps"] if "name" in step}


def test_the_key_comes_from_a_secret_and_the_report_is_kept_even_on_failure() -> None:
    canary, keep = steps()["Drift canary"], steps()["Keep the report"]

    assert canary["env"]["EVOLINK_API_KEY"] == "${{ secrets.EVOLINK_API_KEY }}"
    assert "drift-report.json" in canary["run"]
    assert keep["if"] == "always()"
    assert keep["with"]["path"] == "drift-report.json"


def test_the_canary_step_runs_as_written(tmp_path: Path) -> None:
    canary = steps()["Drift canary"]
    bin_dir = str(Path(sys.executable).parent)  # where this install put evolink-contract
    with serve_in_thread(create_app(Settings(clock="virtual"))) as base_url:
        env = {
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "EVOLINK_BASE_URL": base_url,  # the live API's place, taken by a local simulator
            "EVOLINK_API_KEY": "sk-nightly",
        }
        done = subprocess.run(
            ["bash", "-e", "-c", canary["run"]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "drift-report.json").read_text())["differences"] == 0
