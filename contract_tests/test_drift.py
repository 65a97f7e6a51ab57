"""`evolink-contract drift`: refused requests only, compared with an in-process simulator; a
clean simulator matches, a drifted vendor is named row by row."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evolink_contract import drift, runner
from evolink_contract.lifecycle_drift import LifecycleRow, Waiter
from mockserver import Settings, create_app, load_spec
from mockserver.domain.pricing import Pricing
from mockserver.domain.timing import FAST
from mockserver.testing import serve_in_thread

KEY = "sk-drift-test"

Rewrite = Callable[[str, int, dict[str, object]], tuple[int, dict[str, object]]]


class Drifted:
    """A vendor that has drifted: the simulator, with `rewrite` applied to its JSON answers."""

    def __init__(self, app: ASGIApp, rewrite: Rewrite) -> None:
        self.app = app
        self.rewrite = rewrite

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            status, body = self.rewrite(
                scope["path"], start["status"], json.loads(b"".join(chunks))
            )
            raw = json.dumps(body).encode()
            headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
            headers.append((b"content-length", str(len(raw)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": raw})

        await self.app(scope, receive, keep)


def reword_not_found(
    path: str, status: int, body: dict[str, object]
) -> tuple[int, dict[str, object]]:
    if status == 404:
        error = body["error"]
        assert isinstance(error, dict)
        return status, {"error": {**error, "message": "Task does not exist"}}
    return status, body


def duration_is_422(
    path: str, status: int, body: dict[str, object]
) -> tuple[int, dict[str, object]]:
    error = body.get("error")
    if isinstance(error, dict) and error.get("param") == "duration":
        return 422, body
    return status, body


def test_every_probe_is_refused_by_the_spec_before_anything_is_sent() -> None:
    spec = load_spec()
    names = [probe.name for probe in drift.probes()]

    reasons = [drift.refusal(probe, spec) for probe in drift.probes()]

    assert all(reasons)
    assert {
        "no key",
        "malformed key",
        "model",
        "prompt length",
        "duration",
        "quality",
        "aspect ratio",
        "image count",
        "image URL",
        "callback URL",
        "malformed JSON",
        "wrong content type",
        "duration (sora-2-preview)",
        "malformed task id",
        "unknown task id",
    } == set(names)


def test_a_probe_the_spec_accepts_stops_the_run_with_nothing_sent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(drift, "probes", lambda spec=None: [drift._create("valid")])
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    run = drift.run("http://127.0.0.1:1", KEY, transport=httpx.MockTransport(handler))

    with pytest.raises(drift.UnsafeProbe, match="could be charged"):
        asyncio.run(run)
    assert sent == []


def test_a_clean_simulator_shows_no_difference_and_no_create_succeeded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "drift.json"
    with serve_in_thread(create_app(Settings(clock="virtual"))) as base_url:
        code = runner.main(
            ["drift", "--base-url", base_url, "--api-key", KEY, "--json", str(report)]
        )
        journal = httpx.get(f"{base_url}/_mock/requests", timeout=5).json()

    assert code == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "no differences: 15 requests" in out
    # both served models' rows, each model's page broken at least once
    assert "sora-2-preview: duration (sora-2-preview)" in out
    assert "sora-2-pro-preview: prompt length, duration, quality, aspect ratio" in out
    creates = [e for e in journal if e["operation"] == "createVideoGeneration"]
    assert len(creates) == 13
    assert all(e["status"] >= 400 for e in journal)
    written = json.loads(report.read_text())
    assert written["version"] == 1
    assert written["differences"] == 0
    assert len(written["rows"]) == 15


@pytest.mark.parametrize(
    ("rewrite", "row", "field", "also"),
    [
        (reword_not_found, "unknown task id", "message", []),
        # every model's duration row: each model's page refuses its own
        (duration_is_422, "duration", "status", ["duration (sora-2-preview)"]),
    ],
    ids=["worded-differently", "another-status"],
)
def test_a_drifted_vendor_exits_1_naming_the_row(
    rewrite: Rewrite,
    row: str,
    field: str,
    also: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "drift.json"
    app = Drifted(create_app(Settings(clock="virtual")), rewrite)
    with serve_in_thread(app) as base_url:
        code = runner.main(
            ["drift", "--base-url", base_url, "--api-key", KEY, "--json", str(report)]
        )

    out = capsys.readouterr().out
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith(row)]
    assert any(line.split()[len(row.split())] == field for line in lines), out
    rows = json.loads(report.read_text())["rows"]
    assert [(r["probe"], r["differences"][0]) for r in rows if r["differences"]] == [
        (name, field) for name in [row, *also]
    ]


def test_a_status_outside_the_spec_is_reported_as_such() -> None:
    spec = load_spec()
    response = httpx.Response(418, json={"detail": "nope"})

    found = drift.answer_of(response, "createVideoGeneration", spec)

    assert found.conforms == "status 418 is not documented for createVideoGeneration"
    assert found.shape == "{detail}"


def test_the_command_imports_without_pytest(tmp_path: Path) -> None:
    # a plain install has no pytest: `drift` must not reach for it
    code = (
        "import sys; sys.modules['pytest'] = None; "
        "from evolink_contract import runner; "
        "sys.exit(runner.main(['drift', '--base-url', 'http://127.0.0.1:1']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert done.returncode == 2
    assert "no API key" in done.stderr


def test_a_missing_dependency_exits_2_naming_it_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(drift, "missing", lambda: ["jsonschema-rs"])

    code = runner.main(["drift", "--base-url", "http://127.0.0.1:1", "--api-key", KEY])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "pip install jsonschema-rs" in err


def upstream_waiter(base_url: str) -> Waiter:
    """The upstream is a simulator on the virtual clock: waiting is advancing it."""

    async def wait(seconds: float) -> float:
        async with httpx.AsyncClient(base_url=base_url) as client:
            await client.post("/_mock/clock/advance", json={"seconds": seconds})
        return seconds

    return wait


@pytest.mark.parametrize(
    ("settings", "differing"),
    [
        (Settings(clock="virtual", seed=1), []),
        (
            Settings(clock="virtual", seed=1, pricing=Pricing(table={(4, "720p"): 80.0})),
            ["usage"],
        ),
        (Settings(clock="virtual", seed=1, timings=FAST), ["seconds to the end"]),
    ],
    ids=["same", "another-price", "faster"],
)
def test_the_paid_lifecycle_is_compared_field_by_field(
    settings: Settings, differing: list[str]
) -> None:
    with serve_in_thread(create_app(settings)) as base_url:
        rows = asyncio.run(
            drift.run(
                base_url,
                KEY,
                paid=True,
                poll=10,
                timeout=900,
                upstream_wait=upstream_waiter(base_url),
            )
        )
        journal = httpx.get(f"{base_url}/_mock/requests", timeout=5).json()

    lifecycle = rows[-1]
    assert isinstance(lifecycle, LifecycleRow)
    assert lifecycle.differences == differing, lifecycle.to_json()
    assert lifecycle.upstream["statuses"] == "pending -> processing -> completed"
    assert [e["status"] for e in journal if e["operation"] == "createVideoGeneration"].count(
        200
    ) == 1
