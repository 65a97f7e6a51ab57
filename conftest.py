"""What the whole suite shares, whichever of its folders pytest is given: how many workers
`-n auto` starts, bytecode kept for the processes it starts, and one coverage tracer in each
worker."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator

import pytest

# The suite starts pytest workers and a hundred-odd `evolink-mock serve`, pytest and CLI
# processes; where PYTHONDONTWRITEBYTECODE is set (container images often set it) each of them
# would compile every module it imports again, and pytest rewrite Hypothesis and schemathesis
# again: about 0.12 s of each serve's start-up and several seconds of each pytest's. Loaded by
# the first process, before the workers start, so they and every process they start inherit it.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: three workers for two cores (`PYTEST_XDIST_AUTO_NUM_WORKERS` still decides
    when set). A good part of the suite waits (on `serve` and redis-server processes,
    Chromium, sockets, the real clock's seconds), and a third worker runs tests meanwhile:
    260 s against 286-300 s for the whole suite on two cores (four workers: 261 s)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) * 3 // 2)


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session: pytest.Session) -> Generator[None, None, None]:
    """In an xdist worker under `--cov`, stop the tracer pytest-cov 7.1 starts there by mistake,
    before it starts the worker's own.

    A worker's options carry the run's `-n`, so pytest-cov starts a controller's coverage there
    as it loads, and then, as the session starts, the worker's coverage over it without stopping
    the first: every line is traced by the worker's, and the `no_cover` marker's pause stops
    that one and so resumes the first (coverage.py resumes the collector beneath the one it
    stops), which traces the test at full cost and whose data is never saved.
    `pytest -n 1 contract_tests/test_simulator_asgi.py::test_every_operation_conforms --cov`
    (`--cov` last: it takes an optional value): 41.3 s of CPU with it, 25.5 s without; `-n 0`
    (one tracer): 26 s. Runs before pytest-cov's own hook (a wrapper's first half does), when
    the stray controller is still the plugin's."""
    if hasattr(session.config, "workerinput"):
        plugin = session.config.pluginmanager.get_plugin("_cov")
        controller = getattr(plugin, "cov_controller", None)
        if type(controller).__name__ == "DistMaster":  # a worker is no master: the stray one
            controller.cov.stop()  # type: ignore[union-attr]
    return (yield)
