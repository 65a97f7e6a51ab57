"""What the whole suite shares, whichever of its folders pytest is given: how many workers
`-n auto` starts, and bytecode kept for the processes it starts."""

from __future__ import annotations

import os
import sys

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
