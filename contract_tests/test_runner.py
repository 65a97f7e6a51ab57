"""`evolink-contract`: runs against a live server, writes JUnit, names what failed, and will not
create paid tasks unasked."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evolink_contract import runner
from evolink_contract.lifecycle import run_lifecycle
from evolink_contract.settings import OWNER, STRANGER
from mockserver import Settings, load_spec
from mockserver.domain.timing import FAST
from mockserver.testing import serve_in_thread

from . import mutants

KEY = "sk-runner"


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.9.9.9", True),
        ("http://localhost:1", True),
        ("http://[::1]:8000", True),
        ("https://api.evolink.ai", False),
        ("http://10.0.0.1", False),
        ("http://127.0.0.1.nip.io", False),
    ],
)
def test_loopback_is_recognised(url: str, loopback: bool) -> None:
    assert runner.is_loopback(url) is loopback


def test_a_remote_server_is_refused_before_any_create(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "is_simulator", lambda url: False)  # no traffic leaves this machine
    ran: list[object] = []

    def main(*args: object, **kwargs: object) -> int:
        ran.append(args)
        return 0

    monkeypatch.setattr("pytest.main", main)

    code = runner.main(["--base-url", "https://api.evolink.ai", "--api-key", "sk-real"])

    assert code == 2
    assert ran == []
    assert "--allow-paid-creates" in capsys.readouterr().err


def test_a_missing_key_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)

    assert runner.main(["--base-url", "http://127.0.0.1:1"]) == 2
    assert "no API key" in capsys.readouterr().err


def run_against(tmp_path: Path, mutant: str | None) -> tuple[int, ET.Element]:
    app = mutants.build(mutant, Settings(timings=FAST, api_keys=frozenset({KEY}), clock="virtual"))
    junit = tmp_path / "report.xml"
    with serve_in_thread(app) as base_url:
        code = runner.main(
            ["--base-url", base_url, "--api-key", KEY, "--junit", str(junit), "--max-examples", "8"]
        )
    return code, ET.parse(junit).getroot()


def test_a_broken_simulator_fails_and_the_failing_check_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_against(tmp_path, "missing-required-field")

    assert code == 1
    assert any(case.find("failure") is not None for case in report.iter("testcase"))
    assert "ST108 Response violates schema" in capsys.readouterr().err


def test_without_the_suites_dependencies_it_exits_2_naming_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "schemathesis" else real(name, *a),
    )

    code = runner.main(["--base-url", "http://127.0.0.1:1", "--api-key", KEY])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "schemathesis" in err
    assert "[contract]" in err


@contextlib.contextmanager
def unmeasured(config: pytest.Config) -> Iterator[None]:
    """pytest-cov's `no_cover` for a fixture's work (the marker pauses a test's call only): its
    controller paused and resumed, as the marker does it."""
    controller = getattr(config.pluginmanager.get_plugin("_cov"), "cov_controller", None)
    if controller is None or not getattr(controller, "started", False):
        yield
        return
    controller.pause()
    try:
        yield
    finally:
        controller.resume()


@pytest.fixture(scope="module")
def readme_run(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> tuple[int, Path]:
    """One run of the whole live suite against `evolink-mock serve` with no flags (any sk-...
    key accepted, the rest the documented 401, schemathesis' invalid-auth probe among them; the
    real clock), with the caller's own options (a coverage run, say) set to what would break
    it. It takes most of this file's time: the tests below read its exit code and report.
    Not measured for coverage (the tracer made it twice as long): the lines only it ran are
    the short tests' below."""
    junit = tmp_path_factory.mktemp("readme-run") / "report.xml"
    with unmeasured(pytestconfig), pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_ADDOPTS", "--no-such-option")  # must not reach the live suite
        with serve_in_thread(mutants.build(None, Settings())) as base_url:
            argv = ["--base-url", base_url, "--api-key", "sk-anything", "--junit", str(junit)]
            code = runner.main([*argv, "--max-examples", "8"])
    return code, junit


@pytest.mark.realclock
@pytest.mark.xdist_group("runner-readme-run")
def test_the_readme_default_server_passes_with_a_vendor_shaped_key(
    readme_run: tuple[int, Path],
) -> None:
    code, junit = readme_run

    assert code == 0, runner.failing_checks(junit)


@pytest.mark.realclock
@pytest.mark.xdist_group("runner-readme-run")
def test_the_live_suite_leaves_the_served_spec_as_it_was(readme_run: tuple[int, Path]) -> None:
    # the run is in this process: what schemathesis infers must not be written into the spec
    # every other test (and the app) reads
    assert "x-schemathesis" not in json.dumps(load_spec().document)


@pytest.mark.realclock
@pytest.mark.xdist_group("runner-readme-run")
def test_a_clean_simulator_passes_with_a_case_per_operation_and_the_stateful_runs(
    readme_run: tuple[int, Path],
) -> None:
    code, junit = readme_run
    names = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase")}

    assert code == 0
    assert {
        "test_operation[POST /v1/videos/generations]",
        "test_operation[GET /v1/tasks/{task_id}]",
        "test_operation[GET /v1/credits]",
        "test_operation[GET /v1/tasks]",
        "test_operation[POST /v1/tasks/batch]",
        "test_operation[GET /v1/models]",
        "test_operation[GET /web/api/models/pricing]",
        "test_operation[GET /v1/catalog/pricing-rules]",
        "test_stateful",
        "test_lifecycle",
        "test_idempotency",
        "test_bulk_reads",
    } <= names


def test_a_local_proxy_in_front_of_a_remote_api_is_refused_before_any_create(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mockserver import load_spec
    from mockserver.service.proxy import Proxy
    from mockserver.web.proxy import create_proxy_app

    ran: list[object] = []

    def main(*args: object, **kwargs: object) -> int:
        ran.append(args)
        return 0

    monkeypatch.setattr("pytest.main", main)
    # never contacted: the proxy only names it in its health answer
    app = create_proxy_app(Proxy("https://api.evolink.ai", load_spec()))
    with serve_in_thread(app) as base_url:
        code = runner.main(["--base-url", base_url, "--api-key", "sk-real"])

    assert code == 2
    assert ran == []
    assert "proxy in front of https://api.evolink.ai" in capsys.readouterr().err


def test_the_callers_pytest_addopts_reach_not_the_live_suite_and_come_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("PAID", "BASE_URL", "API_KEY", "MAX_EXAMPLES"):  # restored afterwards
        monkeypatch.delenv(f"EVOLINK_CONTRACT_{name}", raising=False)
    monkeypatch.setenv("PYTEST_ADDOPTS", "--no-such-option")
    seen: list[str | None] = []

    def main(*args: object, **kwargs: object) -> int:
        seen.append(os.environ.get("PYTEST_ADDOPTS"))
        return 0

    monkeypatch.setattr("pytest.main", main)
    argv = ["--base-url", "http://127.0.0.1:1", "--api-key", KEY, "--junit", str(tmp_path / "r")]

    assert runner.main(argv) == 0
    assert seen == [None]
    assert os.environ["PYTEST_ADDOPTS"] == "--no-such-option"


def test_a_short_state_machine_run_passes_a_clean_simulator_and_reads_as_the_owner() -> None:
    settings = Settings(timings=FAST, api_keys=frozenset({OWNER, STRANGER}), clock="virtual")
    with serve_in_thread(mutants.build(None, settings)) as base_url:
        run_lifecycle(base_url, OWNER, STRANGER, max_examples=4, steps=10, shrink=False)
        journal = httpx.get(f"{base_url}/_mock/requests", timeout=10).json()

    reads = [e for e in journal if e["operation"] == "getTaskDetail" and e["status"] == 200]
    assert reads  # the owner read its tasks back, and nothing the machine checks broke
