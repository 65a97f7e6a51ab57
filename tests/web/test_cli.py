"""`evolink-mock`: the help tells the truth, bad flags fail cleanly, `spec` prints the document."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading

import httpx
import pytest

from mockserver import create_app, load_spec
from mockserver.cli.main import build_parser, freeze_garbage_collection, main, settings_from

from ..bodies import create_body


def help_text(*argv: str) -> str:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0]  # type: ignore[union-attr]
    assert isinstance(commands.choices, dict)
    text: str = commands.choices[argv[0]].format_help()
    return text


def test_serve_help_names_every_flag_with_its_real_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EVOLINK_MOCK_HOST", raising=False)
    text = " ".join(help_text("serve").split())
    for phrase in [
        "--host HOST interface to listen on (default: $EVOLINK_MOCK_HOST, else 127.0.0.1)",
        "--port PORT port to listen on; 0 picks a free one (default: 8000)",
        "--api-key KEY accept only this bearer key (repeatable);",
        "by default any key shaped like the vendor's (sk- then letters, digits, - or _)",
        "--any-key without --api-key: accept any non-empty key",
        "--clock {real,virtual}",
        "(default: real)",
        "--speed SPEED real clock only",
        "--start-time UNIX_SECONDS",
        "--log-level {critical,error,warning,info,debug}",
    ]:
        assert phrase in text
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.host, defaults.port, defaults.clock, defaults.speed, defaults.log_level) == (
        "127.0.0.1",
        8000,
        "real",
        1.0,
        "info",
    )


def test_flags_become_settings() -> None:
    args = build_parser().parse_args(
        ["serve", "--api-key", "sk-a", "--api-key", "sk-b", "--clock", "real", "--speed", "60"]
    )

    settings = settings_from(args)

    assert settings.api_keys == frozenset({"sk-a", "sk-b"})
    assert (settings.clock, settings.speed) == ("real", 60.0)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("argv", "key", "status"),
    [
        ([], "sk-anything", 200),
        ([], "SCHEMATHESIS-INVALID-VALUE", 401),
        (["--any-key"], "SCHEMATHESIS-INVALID-VALUE", 200),
    ],
    ids=["vendor-shaped", "other-shape", "any-key"],
)
async def test_by_default_only_vendor_shaped_keys_are_accepted(
    argv: list[str], key: str, status: int
) -> None:
    settings = settings_from(build_parser().parse_args(["serve", "--clock", "virtual", *argv]))
    transport = httpx.ASGITransport(create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as api:
        response = await api.post(
            "/v1/videos/generations",
            json=create_body(prompt="a cat"),
            headers={"Authorization": f"Bearer {key}"},
        )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--speed", "0"], "must be > 0"),
        (["serve", "--speed", "fast"], "not a number"),
        (["serve", "--port", "70000"], "not a port number"),
        (["serve", "--api-key", ""], "must be non-empty"),
        (["serve", "--clock", "sundial"], "invalid choice"),
        ([], "required"),
    ],
    ids=["speed-zero", "speed-word", "port-range", "empty-key", "clock-kind", "no-command"],
)
def test_bad_flags_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_speed_with_a_virtual_clock_is_refused() -> None:
    args = build_parser().parse_args(["serve", "--clock", "virtual", "--speed", "5"])

    with pytest.raises(SystemExit, match="--speed applies to the real clock only"):
        settings_from(args)


def test_spec_prints_the_merged_document(capsys: pytest.CaptureFixture[str]) -> None:
    main(["spec"])

    assert json.loads(capsys.readouterr().out) == load_spec().document


def test_spec_into_a_pipe_closed_early_stops_without_a_traceback() -> None:
    # `evolink-mock spec | head -2`: the reader is gone before the writer's output is out.
    # The reader closes first, so the writer meets a closed pipe whatever its output's size
    # (the document fits in a pipe's buffer: a reader closing later could lose the race).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        writer = subprocess.run(
            [sys.executable, "-m", "mockserver.cli.main", "spec"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=30,
            check=False,
        )
    finally:
        os.close(write_end)
    assert writer.returncode == 1
    assert b"Traceback" not in writer.stderr, writer.stderr
    assert b"BrokenPipeError" not in writer.stderr, writer.stderr


def test_serve_help_offers_no_deliberate_defects() -> None:
    assert "--defect" not in help_text("serve")


def test_a_server_freezes_what_survives_collections_at_an_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen = threading.Event()
    calls: list[str] = []

    def collect(generation: int) -> int:
        calls.append(f"collect({generation})")
        return 0

    def freeze() -> None:
        calls.append("freeze")
        frozen.set()

    monkeypatch.setattr(gc, "collect", collect)
    monkeypatch.setattr(gc, "freeze", freeze)

    stop = threading.Event()
    thread = freeze_garbage_collection(interval=0.01, stop=stop)
    try:
        assert frozen.wait(5)
    finally:
        stop.set()
        thread.join(5)

    assert not thread.is_alive()
    assert calls[:2] == ["collect(1)", "freeze"]  # young garbage first, then freeze
