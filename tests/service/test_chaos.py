"""Seeded chaos: the given fraction of the vendor's requests fail with a scenario drawn from a
list, the same ones on every run with the same seed, each journaled as `chaos:SCENARIO`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver.cli.main import build_parser, main, settings_from
from mockserver.domain.chaos import Chaos, ChaosError, parse_chaos
from mockserver.domain.profiles import KeyProfile, Profiles
from mockserver.testing.server import serve_in_thread

from ..bodies import create_body
from ..conftest import START

CREATE = create_body(prompt="a cat")
SPEC = "rate=0.05,scenarios=http:500|drop|latency:1-5,seed=42"


def run(chaos: Chaos, creates: int, key: str = "sk-chaos") -> list[str | None]:
    """The journal's scenario of each of `creates` creates, in order, on a fresh server."""
    app = create_app(Settings(clock="virtual", start_time=START, chaos=chaos))
    with (
        serve_in_thread(app) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as api,
    ):
        for _ in range(creates):
            # a dropped connection: the client sees the answer cut short, or the socket reset
            with contextlib.suppress(httpx.TransportError):
                api.post("/v1/videos/generations", json=CREATE)
        journal = api.get("/_mock/requests", params={"operation": "create"}).json()
    assert len(journal) == creates
    return [entry["scenario"] for entry in journal]


def test_seed_42_fails_the_same_requests_at_the_rate_asked() -> None:
    chaos = parse_chaos(SPEC)

    first = run(chaos, 1000)
    second = run(chaos, 1000)

    failed = [i for i, scenario in enumerate(first) if scenario is not None]
    assert failed == [i for i, scenario in enumerate(second) if scenario is not None]
    assert first == second  # the same scenario each time, the same latency too
    print(f"\nseed 42: {len(failed)} of 1000 creates failed; first: {failed[:8]}")
    assert 0.03 <= len(failed) / 1000 <= 0.07
    assert {s for s in first if s} <= {"chaos:http:500", "chaos:drop", "chaos:latency:1-5"}
    assert len({s for s in first if s}) == 3


def test_another_seed_fails_other_requests() -> None:
    assert run(parse_chaos("rate=0.2,scenarios=http:500,seed=1"), 100) != run(
        parse_chaos("rate=0.2,scenarios=http:500,seed=2"), 100
    )


@pytest.mark.anyio
async def test_a_keys_profile_chaos_wins_and_other_keys_are_left_alone() -> None:
    profiles = Profiles(
        keys={"sk-flaky": KeyProfile(chaos=parse_chaos("rate=1,scenarios=http:429"))}
    )
    sim = Simulator(Settings(clock="virtual", start_time=START, profiles=profiles))
    transport = httpx.ASGITransport(create_app(simulator=sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as api:
        flaky = await api.post(
            "/v1/videos/generations", json=CREATE, headers={"Authorization": "Bearer sk-flaky"}
        )
        calm = await api.post(
            "/v1/videos/generations", json=CREATE, headers={"Authorization": "Bearer sk-calm"}
        )
        query = await api.get(
            f"/v1/tasks/{calm.json()['id']}", headers={"Authorization": "Bearer sk-flaky"}
        )
        journal = (await api.get("/_mock/requests")).json()
    assert (flaky.status_code, calm.status_code, query.status_code) == (429, 200, 429)
    assert flaky.json()["error"]["code"] == "rate_limit_exceeded"
    assert [e["scenario"] for e in journal] == ["chaos:http:429", None, "chaos:http:429"]


@pytest.mark.anyio
async def test_reset_starts_the_streams_again() -> None:
    sim = Simulator(
        Settings(clock="virtual", chaos=parse_chaos("rate=0.5,scenarios=http:500,seed=7"))
    )
    transport = httpx.ASGITransport(create_app(simulator=sim))
    headers = {"Authorization": "Bearer sk-a"}
    async with httpx.AsyncClient(transport=transport, base_url="http://m", headers=headers) as api:
        runs = []
        for _ in range(2):
            runs.append(
                [
                    (await api.post("/v1/videos/generations", json=CREATE)).status_code
                    for _ in range(20)
                ]
            )
            await api.post("/_mock/reset")
    assert runs[0] == runs[1]
    assert 500 in runs[0]
    assert 200 in runs[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate=0.5", "required"),
        ("rate=2,scenarios=http:500", "from 0 to 1"),
        ("rate=x,scenarios=http:500", "from 0 to 1"),
        ("rate=0.1,scenarios=http:500,seed=abc", "whole number"),
        ("rate=0.1,scenarios=http:500|", "separated by |"),
        ("rate=0.1,scenarios=http:500,colour=red", "expected rate=R"),
    ],
)
def test_bad_chaos_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(ChaosError, match=message):
        parse_chaos(text)


def test_the_flag_becomes_settings_and_an_unknown_scenario_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_from(build_parser().parse_args(["serve", "--chaos", SPEC]))
    assert settings.chaos == Chaos(0.05, ("http:500", "drop", "latency:1-5"), 42)

    with pytest.raises(SystemExit) as exited:
        main(["serve", "--chaos", "rate=0.1,scenarios=explode"])
    assert exited.value.code == 2
    assert "--chaos" in capsys.readouterr().err


def test_a_keys_chaos_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('[keys."sk-a"]\nchaos = "rate=0.1,scenarios=http:500,seed=3"\n')
    settings = settings_from(build_parser().parse_args(["serve", "--config", str(config)]))
    assert settings.profiles.for_key("sk-a").chaos == Chaos(0.1, ("http:500",), 3)

    config.write_text('[keys."sk-a"]\nchaos = "rate=0.1,scenarios=explode"\n')
    with pytest.raises(SystemExit, match=r"sk-a\.chaos: unknown scenario 'explode'"):
        settings_from(build_parser().parse_args(["serve", "--config", str(config)]))
