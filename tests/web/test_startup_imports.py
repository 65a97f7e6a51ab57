"""`evolink-mock serve` starts without the libraries only some requests need: httpx (callbacks,
image URLs; with the CLI extras it pulls in, about a third of the start-up) and
prometheus_client (the first scrape of /_mock/metrics). Each is imported where it is used."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.processes

#: what `serve` imports and builds before it answers /_mock/health
STARTUP = """
import json, sys
import mockserver.cli.main
from mockserver import Settings
from mockserver.service.simulator import Simulator
from mockserver.web.app import create_app
create_app(simulator=Simulator(Settings()))
lazy = {"httpx", "prometheus_client"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in lazy)))
"""


def test_serve_starts_without_httpx_or_prometheus_client() -> None:
    done = subprocess.run(
        [sys.executable, "-c", STARTUP], capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(done.stdout) == []
