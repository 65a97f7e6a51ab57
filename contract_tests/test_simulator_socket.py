"""The schemathesis CLI against the simulator over a real socket, with the shared settings file:
every check, coverage + fuzzing + stateful, and `fail-on` for missing test data and missing auth.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from starlette.applications import Starlette

from evolink_contract.settings import CONFIG_FILE
from evolink_contract.settings import OWNER as KEY
from mockserver import load_spec
from mockserver.testing.server import serve_in_thread

SPEC = load_spec()
#: the operations a key calls: each answers a wrong key 401 (the public price lists do not)
KEYED = [op for op in SPEC.errors if op not in SPEC.public]


def schemathesis_run(base_url: str, workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG_FILE),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--seed",
        "1",
        "--no-color",
        *extra,
    ]
    return subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=300, check=False
    )


def test_schemathesis_cli_finds_nothing_over_a_socket(app: Starlette, tmp_path: Path) -> None:
    with serve_in_thread(app) as base_url:
        result = schemathesis_run(base_url, tmp_path)

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout
    # every link ran: the create -> query link, and those schemathesis infers (a listed id)
    assert re.search(r"(\d+) covered / \1 selected / \1 total", result.stdout)


def test_a_wrong_key_fails_the_run_instead_of_passing_quietly(
    app: Starlette, tmp_path: Path
) -> None:
    with serve_in_thread(app) as base_url:
        result = schemathesis_run(
            base_url, tmp_path, "--header", "Authorization: Bearer sk-wrong", "--max-examples", "5"
        )

    assert result.returncode != 0
    failed = f"Authentication failed: {len(KEYED)} operations returned only 401/403 responses"
    assert failed in result.stdout
    assert "Warnings fail the run" in result.stdout
