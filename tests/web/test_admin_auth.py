"""`--admin-token`: the admin routes behind a bearer token, the vendor's API and what clients
download left alone; serving beyond loopback without a token refused."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver.cli.main import build_parser, settings_from
from mockserver.web.auth import bearer_matches

from ..bodies import create_body
from ..conftest import KEY, START

TOKEN = "admin-s3cret"
CREATE = create_body(prompt="a cat")


@pytest.fixture
def locked() -> httpx.AsyncClient:
    sim = Simulator(Settings(clock="virtual", start_time=START, admin_token=TOKEN))
    transport = httpx.ASGITransport(create_app(simulator=sim))
    return httpx.AsyncClient(transport=transport, base_url="http://mock.test")


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"Bearer  {TOKEN[:-1]}"],
    ids=["none", "wrong", "basic", "longer", "empty", "shorter"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_mock/faults"),
        ("POST", "/_mock/reset"),
        ("POST", "/_mock/clock/advance"),
        ("GET", "/_mock/requests"),
        ("GET", "/_mock/tasks"),
        ("GET", "/_mock/no-such-route"),
    ],
)
@pytest.mark.anyio
async def test_admin_routes_answer_401_in_the_envelope_without_the_token(
    locked: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with locked:
        response = await locked.request(method, path, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert "--admin-token" in response.json()["error"]["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.anyio
async def test_the_token_opens_them_and_the_open_routes_need_none(
    locked: httpx.AsyncClient,
) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    async with locked:
        assert (await locked.get("/_mock/faults", headers=admin)).status_code == 200
        assert (
            await locked.get("/_mock/faults", headers={"Authorization": f"bearer {TOKEN}"})
        ).status_code == 200
        health = await locked.get("/_mock/health")
        assert health.status_code == 200
        assert health.json()["admin_token_required"] is True
        assert (await locked.get("/_mock/ui")).status_code == 200  # the shell: it asks
        assert (await locked.get("/_mock/ui/app.js")).status_code == 200
        # the vendor's API takes API keys, never the admin token
        task = await locked.post(
            "/v1/videos/generations", json=CREATE, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert task.status_code == 200
        wait = task.json()["task_info"]["estimated_time"]
        advanced = await locked.post("/_mock/clock/advance", json={"seconds": wait}, headers=admin)
        assert advanced.status_code == 200
        done = await locked.get(
            f"/v1/tasks/{task.json()['id']}", headers={"Authorization": f"Bearer {KEY}"}
        )
        video = await locked.get(done.json()["results"][0])
        assert video.status_code == 200
        assert video.headers["content-type"] == "video/mp4"
        # the admin calls were not journaled, the vendor's were
        journal = (await locked.get("/_mock/requests", headers=admin)).json()
        assert [entry["status"] for entry in journal] == [200, 200]


def test_bearer_matching() -> None:
    token = TOKEN.encode()
    assert bearer_matches(f"Bearer {TOKEN}".encode(), token)
    assert bearer_matches(f"BEARER {TOKEN} ".encode(), token)
    assert not bearer_matches(None, token)
    assert not bearer_matches(b"Bearer", token)
    assert not bearer_matches(f"Token {TOKEN}".encode(), token)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_token(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_MOCK_ADMIN_TOKEN", raising=False)
    settings = settings_from(build_parser().parse_args(["serve", "--host", host]))
    assert settings.admin_token is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "mock.internal"])
def test_beyond_loopback_without_a_token_is_refused(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVOLINK_MOCK_ADMIN_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exited:
        settings_from(build_parser().parse_args(["serve", "--host", host]))
    message = str(exited.value.code)
    assert "--admin-token" in message
    assert "\n" not in message


def test_an_empty_token_in_the_environment_is_named_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVOLINK_MOCK_ADMIN_TOKEN", "")
    parse = build_parser().parse_args
    with pytest.raises(SystemExit) as exited:
        settings_from(parse(["serve", "--host", "0.0.0.0"]))
    assert str(exited.value.code).startswith(
        "evolink-mock: error: $EVOLINK_MOCK_ADMIN_TOKEN is set but empty, and --host 0.0.0.0"
    )
    # as if unset where no token is needed, and where --admin-open says so
    assert settings_from(parse(["serve", "--host", "127.0.0.1"])).admin_token is None
    open_ = settings_from(parse(["serve", "--host", "0.0.0.0", "--admin-open"]))
    assert open_.admin_token is None


def test_the_host_default_comes_from_the_environment_and_needs_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EVOLINK_MOCK_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("EVOLINK_MOCK_HOST", "0.0.0.0")  # as the container image sets it
    args = build_parser().parse_args(["serve", "--clock", "virtual"])
    assert args.host == "0.0.0.0"
    with pytest.raises(SystemExit, match=r"--host 0\.0\.0\.0 is not loopback"):
        settings_from(args)
    assert build_parser().parse_args(["serve", "--host", "::1"]).host == "::1"


def test_admin_open_or_a_token_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_MOCK_ADMIN_TOKEN", raising=False)
    parse = build_parser().parse_args
    assert settings_from(parse(["serve", "--host", "0.0.0.0", "--admin-open"])).admin_token is None
    flagged = settings_from(parse(["serve", "--host", "0.0.0.0", "--admin-token", TOKEN]))
    assert flagged.admin_token == TOKEN
    monkeypatch.setenv("EVOLINK_MOCK_ADMIN_TOKEN", "from-env")
    assert settings_from(parse(["serve", "--host", "0.0.0.0"])).admin_token == "from-env"


@pytest.mark.processes
def test_serve_on_all_interfaces_without_a_token_exits_non_zero_naming_the_flag() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli.main", "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )

    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--admin-token" in lines[0]
    assert "Traceback" not in done.stderr
