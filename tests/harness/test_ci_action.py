"""The GitHub Actions composite action (`action.yml`): its one script starts evolink-mock in the
background, waits for `/_mock/health`, exports `EVOLINK_BASE_URL` and stops it, here as on CI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from ..bodies import create_body

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ci-mock.sh"

pytestmark = [pytest.mark.realclock, pytest.mark.processes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def script(command: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def ci_env(tmp_path: Path) -> dict[str, str]:
    """A CI job's environment: the package installed (this venv on PATH), GitHub's env files."""
    (tmp_path / "github_env").touch()
    (tmp_path / "github_output").touch()
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "EVOLINK_MOCK_PORT": str(free_port()),
        "EVOLINK_MOCK_INSTALL": "0",
        "EVOLINK_MOCK_PYTHON": sys.executable,
        "EVOLINK_MOCK_STATE": str(tmp_path / "state"),
        "GITHUB_ENV": str(tmp_path / "github_env"),
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }


def test_start_waits_for_health_exports_the_url_and_stop_stops_it(
    ci_env: dict[str, str], tmp_path: Path
) -> None:
    base_url = f"http://127.0.0.1:{ci_env['EVOLINK_MOCK_PORT']}"

    started = script("start", ci_env, "--clock", "virtual", "--api-key", "sk-ci")
    try:
        assert started.returncode == 0, started.stderr
        assert f"EVOLINK_BASE_URL={base_url}" in started.stdout
        assert (tmp_path / "github_env").read_text() == f"EVOLINK_BASE_URL={base_url}\n"
        assert (tmp_path / "github_output").read_text() == f"base-url={base_url}\n"
        # healthy when start returned, and serving with the arguments given
        assert httpx.get(f"{base_url}/_mock/health").json()["clock"] == "virtual"
        refused = httpx.post(
            f"{base_url}/v1/videos/generations",
            json=create_body(prompt="x"),
            headers={"Authorization": "Bearer sk-other"},
        )
        assert refused.status_code == 401
        assert script("start", ci_env).returncode == 1  # one per port
    finally:
        stopped = script("stop", ci_env)

    assert stopped.returncode == 0, stopped.stderr
    assert "stopped evolink-mock" in stopped.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/_mock/health", timeout=2)
    assert not any((tmp_path / "state").glob("*.pid"))


def test_a_server_that_cannot_start_fails_the_step_with_its_log(ci_env: dict[str, str]) -> None:
    failed = script("start", ci_env, "--host", "0.0.0.0")  # beyond loopback without a token

    assert failed.returncode == 1
    assert "exited before it was healthy" in failed.stderr
    assert "--admin-token" in failed.stderr
    assert script("stop", ci_env).returncode == 0


def test_the_action_runs_the_script_with_its_inputs() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))

    assert action["runs"]["using"] == "composite"
    (step,) = action["runs"]["steps"]
    assert "scripts/ci-mock.sh" in step["run"]
    assert "${{" not in step["run"]  # inputs only through the environment
    assert set(action["inputs"]) == {"command", "args", "port", "python", "install", "timeout"}
    assert action["outputs"]["base-url"]["value"] == "${{ steps.mock.outputs.base-url }}"
