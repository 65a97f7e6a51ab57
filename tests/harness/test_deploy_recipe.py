"""The deployment recipe (examples/deploy): its replicas run the container image, with a
command `evolink-mock serve` accepts, on a shared store, with the admin token it needs off
loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mockserver.cli.main import build_parser, settings_from

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "examples" / "deploy"


def test_the_replicas_serve_one_state_from_redis_behind_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVOLINK_MOCK_ADMIN_TOKEN", "from-the-environment")
    compose = yaml.safe_load((RECIPE / "compose.yaml").read_text())
    services = compose["services"]
    serve = services["mock-a"]["command"]  # the image's entrypoint is evolink-mock
    settings = settings_from(build_parser().parse_args(serve))

    assert services["mock-b"] == services["mock-a"]  # two replicas of one service
    assert services["mock-a"]["image"] == "${EVOLINK_MOCK_IMAGE:-evolink-mock:latest}"
    assert (ROOT / "Containerfile").read_text().count('ENTRYPOINT ["evolink-mock"]') == 1
    assert settings.store_url == "redis://redis:6379/0"
    assert settings.admin_token == "from-the-environment"
    assert "EVOLINK_MOCK_ADMIN_TOKEN" in services["mock-a"]["environment"]
    assert "--appendonly" in services["redis"]["command"]
    upstreams = (RECIPE / "nginx.conf").read_text()
    assert "server mock-a:8000;" in upstreams
    assert "server mock-b:8000;" in upstreams
