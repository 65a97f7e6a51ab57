"""`evolink-video`: commands against a real simulator on a socket, exit codes, output formats."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

import evolink_client as client
from evolink_client._cli import EXIT_CODES, exit_code_for, main
from mockserver import Settings, create_app
from mockserver.domain.timing import FAST
from mockserver.testing.server import serve_in_thread

from ..client_fixtures import failed_body, task_body
from ..mp4probe import probe

README = Path(__file__).resolve().parents[2] / "client" / "README.md"
MISSING = "task-unified-1700000000-zzzzzzzz"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    monkeypatch.delenv("EVOLINK_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def fast() -> Iterator[str]:
    """A real clock 200x fast: a 4 s video's 45 simulated seconds take about 0.25 s."""
    with serve_in_thread(create_app(Settings(timings=FAST, clock="real", speed=200))) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def keyed() -> Iterator[str]:
    """A frozen clock that accepts only the key "good"."""
    app = create_app(Settings(timings=FAST, clock="virtual", api_keys=frozenset({"good"})))
    with serve_in_thread(app) as base_url:
        yield base_url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- commands against the simulator ------------------------------------------------------------


def test_generate_wait_output_writes_the_video(
    fast: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "cat.mp4"
    code, out, err = run(
        capsys,
        *("--base-url", fast, "--api-key", "sk-k"),
        *("generate", "A cat playing piano", "--duration", "4", "--quality", "720p"),
        *("--aspect-ratio", "16:9", "--wait", "--output", str(target), "--poll-interval", "0.02"),
    )
    assert code == 0, err
    assert re.match(r"task-unified-\d+-[a-z0-9]{8}\tcompleted\t100%", out)
    assert f"saved: {target}" in out
    assert "100/100" in err  # the progress bar reached the end
    data = target.read_bytes()
    assert data[4:8] == b"ftyp"
    assert (probe(data).width, probe(data).height) == (1280, 720)


def test_generate_model_makes_that_models_video(
    fast: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--json", "--base-url", fast, "--api-key", "sk-k", "generate", "A cat", "--wait"]
    flags = ["--model", "sora-2-preview", "--aspect-ratio", "720x1280", "--duration", "8"]
    code, out, err = run(capsys, *argv, *flags, "--poll-interval", "0.02")

    assert code == 0, err
    task = json.loads(out)["task"]
    assert (task["model"], task["status"], task["usage"]["credits_reserved"]) == (
        "sora-2-preview",
        "completed",
        46.08,
    )
    video = probe(httpx.get(task["results"][0]).content)
    assert (video.width, video.height, round(video.duration)) == (720, 1280, 8)


def test_generate_json_parses_and_has_no_progress_bar(
    fast: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "v.mp4"
    code, out, err = run(
        capsys,
        *("generate", "A cat", "--output", str(target), "--poll-interval", "0.02"),
        *("--json", "--base-url", fast, "--api-key", "sk-k"),  # shared options after the command
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["task"]["status"] == "completed"
    assert doc["task"]["results"][0].startswith(fast)
    assert doc["output"] == str(target)
    assert err == ""
    assert target.stat().st_size > 0


def test_generate_without_wait_prints_the_pending_task(
    keyed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "--json", "--base-url", keyed, "--api-key", "good", "generate", "A cat"
    )
    assert code == 0
    task = json.loads(out)["task"]
    assert (task["status"], task["progress"], task["object"]) == (
        "pending",
        0,
        "video.generation.task",
    )
    code, out, _ = run(capsys, "--base-url", keyed, "--api-key", "good", "status", task["id"])
    assert code == 0
    assert out == f"{task['id']}\tpending\t0%\n"


def test_download_command_saves_a_completed_task(
    fast: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--base-url", fast, "--api-key", "sk-k")
    code, out, _ = run(
        capsys, *common, "--json", "generate", "A cat", "--wait", "--poll-interval", "0.02"
    )
    assert code == 0
    task_id = json.loads(out)["task"]["id"]
    target = tmp_path / "again.mp4"
    code, out, err = run(capsys, *common, "download", task_id, "--output", str(target))
    assert code == 0, err
    assert target.read_bytes()[4:8] == b"ftyp"
    assert f"saved: {target}" in out


def test_download_of_a_pending_task_exits_13(
    keyed: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--base-url", keyed, "--api-key", "good")
    _, out, _ = run(capsys, *common, "--json", "generate", "A cat")
    task_id = json.loads(out)["task"]["id"]
    code, _, err = run(capsys, *common, "download", task_id, "--output", str(tmp_path / "v.mp4"))
    assert code == 13
    assert "pending" in err
    assert list(tmp_path.iterdir()) == []


def test_bad_key_exits_4(keyed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--base-url", keyed, "--api-key", "bad-key", "status", MISSING)
    assert code == 4
    assert out == ""
    assert "HTTP 401 unauthorized" in err
    assert "bad-key" not in err


def test_bad_key_json_error(keyed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--json", "--base-url", keyed, "--api-key", "bad", "generate", "A cat"
    )
    assert code == 4
    doc = json.loads(out)
    assert doc["exit_code"] == 4
    assert doc["error"]["class"] == "AuthenticationError"
    assert (doc["error"]["status"], doc["error"]["code"]) == (401, "unauthorized")


def test_unknown_task_exits_7(keyed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--base-url", keyed, "--api-key", "good", "status", MISSING)
    assert code == 7
    assert "task_not_found" in err


def test_malformed_task_id_exits_3(keyed: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--json", "--base-url", keyed, "--api-key", "good", "status", "bogus"
    )
    assert code == 3
    assert json.loads(out)["error"]["param"] == "task_id"


def test_env_vars_configure_the_cli(
    keyed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVOLINK_BASE_URL", keyed)
    monkeypatch.setenv("EVOLINK_API_KEY", "good")
    code, out, _ = run(capsys, "generate", "A cat", "--duration", "12")
    assert code == 0
    assert "\tpending\t0%" in out


# -- failures scripted with respx --------------------------------------------------------------

BASE = "https://api.evolink.test"


def test_failed_task_exits_11_with_its_code(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE) as router:
        router.post("/v1/videos/generations").respond(json=task_body())
        router.get(f"/v1/tasks/{task_body()['id']}").respond(
            json=failed_body("content_policy_violation")
        )
        code, out, _ = run(
            capsys, "--json", "--base-url", BASE, "--api-key", "sk-k", "generate", "x", "--wait"
        )
    assert code == 11
    doc = json.loads(out)
    assert doc["error"]["class"] == "TaskFailedError"
    assert doc["error"]["task"]["error"]["code"] == "content_policy_violation"


def test_status_of_a_failed_task_exits_0_and_shows_why(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE) as router:
        router.get(f"/v1/tasks/{task_body()['id']}").respond(json=failed_body("service_error"))
        code, out, _ = run(
            capsys, "--base-url", BASE, "--api-key", "sk-k", "status", task_body()["id"]
        )
    assert code == 0
    assert out.splitlines() == [
        f"{task_body()['id']}\tfailed\t30%",
        "error: service_error: Content policy violation.",
    ]


def test_wait_timeout_exits_12(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE) as router:
        router.post("/v1/videos/generations").respond(json=task_body())
        router.get(f"/v1/tasks/{task_body()['id']}").respond(json=task_body(status="processing"))
        code, _, err = run(
            capsys,
            "--base-url",
            BASE,
            "--api-key",
            "sk-k",
            "generate",
            "x",
            "--wait",
            "--timeout",
            "0",
        )
    assert code == 12
    assert "processing" in err


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["--image-url", "https://a.test/1.png", "--image-url", "https://a.test/2.png"],
            "image_urls",
        ),
        (
            ["--model", "sora-2-preview", "--quality", "1080p"],
            "quality is not a field of sora-2-preview",
        ),
        (["--aspect-ratio", "1280x720"], "aspect_ratio must be one of ['16:9', '9:16']"),
    ],
    ids=["two-images", "quality-on-sora-2-preview", "sora-2-preview-ratio-on-pro"],
)
def test_local_validation_exits_2_without_a_request(
    flags: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        route = router.post("/v1/videos/generations").respond(json=task_body())
        code, _, err = run(
            capsys, *("--base-url", BASE, "--api-key", "sk-k", "generate", "x"), *flags
        )
    assert code == 2
    assert said in err
    assert not route.called


def test_missing_key_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--base-url", BASE, "status", MISSING)
    assert code == 2
    assert "EVOLINK_API_KEY" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "x", "--duration", "5"],
        ["generate"],
        ["frobnicate"],
        [],
        ["download", "t"],
        ["generate", "x", "--idempotency-key", "k", "--no-idempotency-key"],
    ],
    ids=["bad-duration", "no-prompt", "unknown-command", "no-command", "no-output", "two-keys"],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage:" in err


# -- exit code table ---------------------------------------------------------------------------

ERRORS = [
    (client.ValidationError("x"), 2),
    (client.ConfigurationError("x"), 2),
    (client.InvalidRequestError("x", status=400), 3),
    (client.AuthenticationError("x", status=401), 4),
    (client.InsufficientQuotaError("x", status=402), 5),
    (client.PermissionDeniedError("x", status=403), 6),
    (client.TaskNotFoundError("x", status=404), 7),
    (client.RateLimitError("x", status=429), 8),
    (client.ServerError("x", status=502), 9),
    (client.APIConnectionError("x"), 10),
    (client.APITimeoutError("x"), 10),
    (client.UnexpectedResponseError("x", raw=""), 1),
    (client.APIStatusError("x", status=409), 1),
    (client.IdempotencyConflictError("x", status=422), 14),
    (OSError("disk full"), 1),
    (KeyboardInterrupt(), 130),
    (ValueError("not ours"), 1),
]


@pytest.mark.parametrize(("exc", "expected"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_exit_code_per_error_family(exc: BaseException, expected: int) -> None:
    assert exit_code_for(exc) == expected


def test_exit_codes_are_distinct() -> None:
    codes = [code for code, _, _ in EXIT_CODES]
    assert len(codes) == len(set(codes))


def test_help_epilog_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for exit_code, _, meaning in EXIT_CODES:
        assert re.search(rf"^\s+{exit_code}\s+{re.escape(meaning)}$", out, re.MULTILINE), exit_code


def test_readme_exit_code_table_matches_the_cli() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", section, re.MULTILINE)
    assert [(int(code), meaning) for code, meaning in rows] == [
        (code, meaning) for code, _, meaning in EXIT_CODES
    ]


@pytest.mark.processes
def test_python_dash_m_evolink_client_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evolink_client", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: evolink-video")
    assert "exit codes:" in result.stdout


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"evolink-video {client.__version__}"


def test_unreachable_server_exits_10(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE) as router:
        router.post("/v1/videos/generations").mock(side_effect=httpx.ReadTimeout("slow"))
        code, _, err = run(
            capsys, "--base-url", BASE, "--api-key", "sk-k", "generate", "x", "--no-idempotency-key"
        )
    assert code == 10  # without a key a create is not retried after a read timeout: instant
    assert "ReadTimeout" in err


# -- idempotency keys --------------------------------------------------------------------------

KEYED = ("--base-url", BASE, "--api-key", "sk-k", "generate", "x")
#: a 503 that asks for no wait, so that the CLI's real sleep between attempts takes no time
BUSY = httpx.Response(
    503, json={"error": {"code": "x", "message": "busy"}}, headers={"Retry-After": "0"}
)


def sent_keys(route: respx.Route) -> list[str | None]:
    return [call.request.headers.get("idempotency-key") for call in route.calls]


def test_generate_sends_a_new_key_and_retries_under_it(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/v1/videos/generations").mock(
            side_effect=[BUSY, httpx.Response(200, json=task_body())]
        )
        code, _, err = run(capsys, *KEYED)
    assert code == 0, err
    first, second = sent_keys(route)
    assert first is not None
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert second == first


def test_generate_sends_the_given_key(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/v1/videos/generations").respond(json=task_body())
        code, _, _ = run(capsys, *KEYED, "--idempotency-key", "nightly-2025-01-01")
    assert code == 0
    assert sent_keys(route) == ["nightly-2025-01-01"]


def test_no_idempotency_key_sends_none_and_does_not_retry_a_5xx(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with respx.mock(base_url=BASE) as router:
        route = router.post("/v1/videos/generations").mock(side_effect=[BUSY, BUSY])
        code, _, _ = run(capsys, *KEYED, "--no-idempotency-key")
    assert code == 9
    assert sent_keys(route) == [None]


def test_an_invalid_key_exits_2_without_a_request(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        route = router.post("/v1/videos/generations").respond(json=task_body())
        code, _, err = run(capsys, *KEYED, "--idempotency-key", "x" * 256)
    assert code == 2
    assert "idempotency_key" in err
    assert not route.called


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_a_replayed_create_says_so(as_json: bool, capsys: pytest.CaptureFixture[str]) -> None:
    replay = httpx.Response(200, json=task_body(), headers={"Idempotency-Replayed": "true"})
    with respx.mock(base_url=BASE) as router:
        router.post("/v1/videos/generations").mock(return_value=replay)
        code, out, _ = run(capsys, *(["--json"] if as_json else []), *KEYED)
    assert code == 0
    if as_json:
        assert json.loads(out)["replayed"] is True
    else:
        assert out.splitlines()[1] == "replayed: the task this key made before; no new charge"


def test_a_key_used_with_another_prompt_exits_14(capsys: pytest.CaptureFixture[str]) -> None:
    body = {"error": {"code": "idempotency_conflict", "message": "key reused", "type": "x"}}
    with respx.mock(base_url=BASE) as router:
        route = router.post("/v1/videos/generations").respond(422, json=body)
        code, out, _ = run(capsys, "--json", *KEYED, "--idempotency-key", "k")
    assert code == 14
    assert route.call_count == 1
    assert json.loads(out)["error"]["class"] == "IdempotencyConflictError"


def test_generate_through_a_lost_answer_makes_one_task(capsys: pytest.CaptureFixture[str]) -> None:
    """`drop-after-create` cuts the connection after the task is made: the CLI's retry carries
    the same key, and the mock answers the task the lost answer made."""
    app = create_app(Settings(timings=FAST, clock="virtual"))
    with serve_in_thread(app) as base_url:
        fault = {"scenario": "drop-after-create", "match": {"operation": "create"}, "times": 1}
        assert httpx.post(f"{base_url}/_mock/faults", json=fault).status_code == 201

        code, out, _ = run(
            capsys, "--json", "--base-url", base_url, "--api-key", "sk-cli", "generate", "A cat"
        )
        journal = httpx.get(f"{base_url}/_mock/requests").json()
        made = httpx.get(f"{base_url}/_mock/tasks").json()
        accounts = httpx.get(f"{base_url}/_mock/accounts").json()

    assert code == 0
    printed = json.loads(out)
    shown = printed["task"]
    assert printed["replayed"] is True
    assert [task["id"] for task in made] == [shown["id"]]  # one task for the one intent
    assert [(e["status"], e["scenario"], e["replayed"]) for e in journal] == [
        (200, "drop-after-create", False),
        (200, None, True),
    ]
    assert journal[0]["headers"]["idempotency-key"] == journal[1]["headers"]["idempotency-key"]
    assert [(a["reserved"], a["running"]) for a in accounts] == [(69.12, 1)]


@pytest.mark.parametrize(
    "argv",
    [("--json", "generate"), ("generate", "A cat", "--duration", "5", "--json")],
)
def test_a_usage_error_with_json_is_json_on_stdout(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, out, err = run(capsys, *argv)

    assert code == 2
    assert err == ""
    doc = json.loads(out)
    assert doc["exit_code"] == 2
    assert doc["error"]["class"] == "UsageError"
    assert doc["error"]["message"] in (
        "the following arguments are required: PROMPT",
        "argument --duration: invalid choice: 5 (choose from 4, 8, 12)",
    )
    assert doc["error"]["usage"].startswith("usage: evolink-video generate")


def test_a_usage_error_without_json_stays_argparse_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "generate")

    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == (
        "evolink-video generate: error: the following arguments are required: PROMPT"
    )


# -- list ---------------------------------------------------------------------------------------


def test_list_prints_the_keys_tasks_newest_first(capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(Settings(timings=FAST, clock="virtual", start_time=1_800_000_000))
    with serve_in_thread(app) as base_url:
        made = []
        for _ in range(3):
            code, out, _ = run(capsys, "--base-url", base_url, "--api-key", "sk-l", "generate", "x")
            made.append(out.split("\t")[0])
        httpx.post(f"{base_url}/_mock/clock/advance", json={"seconds": 3600}).raise_for_status()
        code, out, _ = run(capsys, "--base-url", base_url, "--api-key", "sk-l", "list")
        _, two, _ = run(capsys, "--base-url", base_url, "--api-key", "sk-l", "list", "--limit", "2")
        _, theirs, _ = run(capsys, "--base-url", base_url, "--api-key", "sk-m", "list")
        _, doc, _ = run(capsys, "--json", "--base-url", base_url, "--api-key", "sk-l", "list")

    assert code == 0
    assert out.splitlines() == [
        f"{task_id}\tcompleted\t100%\tsora-2-pro-preview\t2027-01-15T08:00:00Z\tcharged 69.12"
        for task_id in reversed(made)
    ]
    assert len(two.splitlines()) == 2
    assert theirs == "no tasks\n"
    tasks = json.loads(doc)["tasks"]
    assert [t["id"] for t in tasks] == list(reversed(made))
    assert tasks[0]["credits_used"] == 69.12


def test_list_sends_its_filters(capsys: pytest.CaptureFixture[str]) -> None:
    page = {"data": [], "total": 0, "page": 1, "page_size": 100}
    with respx.mock(base_url=BASE) as router:
        route = router.get("/v1/tasks").respond(json=page)
        code, out, _ = run(
            capsys,
            *("--base-url", BASE, "--api-key", "sk-k", "list", "--status", "failed"),
            *("--type", "video", "--model", "sora-2-preview"),
        )

    assert (code, out) == (0, "no tasks\n")
    assert dict(route.calls.last.request.url.params) == {
        "status": "failed",
        "type": "video",
        "model": "sora-2-preview",
        "page_size": "100",
        "page": "1",
    }


def test_list_with_an_unknown_status_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--api-key", "sk-k", "list", "--status", "running")

    assert code == 2
    assert "invalid choice: 'running'" in err
