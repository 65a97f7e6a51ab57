"""One `--isolate-keys` server shared by every xdist worker of a run: the plugin gives each
worker a key of its own (its own world), so `pytest -n 4` is not flaky by construction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mockserver import Settings, create_app
from mockserver.pytest_plugin import worker_key
from mockserver.testing.ca import write_ca
from mockserver.testing.server import serve_in_thread

from ..plugins import lean

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.processes
def test_the_examples_run_on_four_workers_against_one_server(tmp_path: Path) -> None:
    pytest.importorskip("xdist")  # the test extra installs it
    ca_file = write_ca(tmp_path / "ca")
    settings = Settings(
        clock="virtual",
        isolate_keys=True,
        callback_allow=frozenset({"127.0.0.1"}),
        callback_ca_file=str(ca_file),
        callback_timeout=1.0,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    plugins = lean("\n".join(p.read_text("utf-8") for p in (ROOT / "examples").glob("*.py")))
    with serve_in_thread(create_app(settings)) as base_url:
        env |= {"EVOLINK_MOCK_URL": base_url, "EVOLINK_MOCK_CA_DIR": str(ca_file.parent)}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-n",
                "4",
                "-q",
                "-p",
                "no:cacheprovider",
                *plugins,
                "examples",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        health = httpx.get(f"{base_url}/_mock/health").json()

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout
    assert health["worlds"] >= 2  # the workers that ran the examples, each in its own world


pytest_plugins = ["pytester"]


def test_a_shared_server_without_isolated_keys_is_refused(
    monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester
) -> None:
    with serve_in_thread(create_app(Settings(clock="virtual"))) as base_url:
        pytester.makepyfile("def test_uses_it(evolink_mock):\n    pass\n")
        monkeypatch.setenv("EVOLINK_MOCK_URL", base_url)
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*was not started with --isolate-keys*"])


def test_each_worker_and_run_has_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "0123456789abcdef")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert worker_key() == "sk-evolink-mock-test-0123456789ab-gw3"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert worker_key() == "sk-evolink-mock-test-0123456789ab-gw1"
