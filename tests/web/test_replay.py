"""`serve --replay`: recorded tasks come back on the simulator's clock, showing at `t` what the
recording saw at `t`; a create with a recorded request replays that lifecycle under a new id.
And a proxy killed with kill -9 mid-recording leaves a file that replays."""

from __future__ import annotations

import dataclasses
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import Settings, Simulator, create_app
from mockserver.domain.recording import Exchange, RecordedTask, recorded_tasks
from mockserver.domain.timing import FAST
from mockserver.service.calls import Call
from mockserver.spec import QUERY
from mockserver.storage.recording import RecordingWriter, read_recording
from mockserver.testing import serve_in_thread

from ..bodies import create_body

pytestmark = pytest.mark.anyio

BODY = create_body(prompt="A recorded cat", duration=4)
TASK = "task-unified-1700000000-recorded"
#: (seconds after the create, status, progress) as a recording saw them
SEEN = [(0, "pending", 0), (2, "processing", 10), (5, "processing", 40), (9, "completed", 100)]


def answer(status: str, progress: int, **extra: Any) -> dict[str, Any]:
    return {"id": TASK, "status": status, "progress": progress, **extra}


def recording(seen: Sequence[tuple[float, str, int]], **last: Any) -> list[Exchange]:
    create = Exchange(
        "POST", "/v1/videos/generations", BODY, 200, answer("pending", 0), {}, TASK, 0
    )
    polls = [
        Exchange("GET", f"/v1/tasks/{TASK}", None, 200, answer(s, p), {}, TASK, at)
        for at, s, p in seen[1:]
    ]
    if last:
        polls[-1] = Exchange(
            "GET", f"/v1/tasks/{TASK}", None, 200, answer(**last), {}, TASK, seen[-1][0]
        )
    return [create, *polls]


def walk(task: RecordedTask, at: list[float]) -> list[tuple[str, int]]:
    plan = task.plan(created=1000.0)
    return [(plan.status_at(1000 + t).value, plan.progress_at(1000 + t)) for t in at]


def test_a_recorded_task_shows_at_t_what_the_recording_saw_at_t() -> None:
    (task,) = recorded_tasks(recording(SEEN))

    assert walk(task, [0, 1.9, 2, 4.9, 5, 8.9, 9, 100]) == [
        ("pending", 0),
        ("pending", 0),
        ("processing", 10),
        ("processing", 10),
        ("processing", 40),
        ("processing", 40),
        ("completed", 100),
        ("completed", 100),
    ]


def test_a_recorded_failure_fails_at_its_offset_with_its_error() -> None:
    seen = [(0, "pending", 0), (2, "processing", 30), (4, "failed", 30)]
    error = {"code": "content_policy_violation", "message": "no", "type": "task_error"}
    (task,) = recorded_tasks(recording(seen, status="failed", progress=30, error=error))
    plan = task.plan(created=0.0)

    assert walk(task, [3.9, 4]) == [("processing", 30), ("failed", 30)]
    assert plan.failure is not None
    assert plan.failure.code == "content_policy_violation"


def test_a_task_never_seen_to_end_stays_as_last_seen() -> None:
    (task,) = recorded_tasks(recording(SEEN[:3]))

    assert walk(task, [5, 3600]) == [("processing", 40), ("processing", 40)]


def replaying(tmp_path: Path) -> Settings:
    writer = RecordingWriter(tmp_path / "rec.jsonl")
    for exchange in recording(SEEN):
        writer.write(exchange)
    writer.close()
    tasks = recorded_tasks(read_recording(tmp_path / "rec.jsonl"))
    return Settings(clock="virtual", timings=FAST, replay=tuple(tasks))


async def status_of(sim: Simulator, task_id: str, key: str) -> tuple[str, int]:
    found = await sim.query(Call(QUERY, f"Bearer {key}", base_url="http://mock"), task_id)
    assert found.task is not None
    body = found.task.to_json(found.now)
    return body["status"], body["progress"]


async def test_recorded_tasks_come_back_on_the_clock_readable_with_any_key(
    tmp_path: Path,
) -> None:
    sim = Simulator(replaying(tmp_path))
    seen: list[tuple[float, str, int]] = []
    for at in [0, 2, 5, 9]:
        await sim.advance(at - (seen[-1][0] if seen else 0))
        seen.append((at, *await status_of(sim, TASK, f"sk-reader{at}")))

    assert seen == SEEN


async def test_a_matching_create_replays_the_lifecycle_under_a_new_id(tmp_path: Path) -> None:
    sim = Simulator(replaying(tmp_path))
    ended: list[tuple[str, float]] = []
    await sim.on_task_end(lambda task, when: ended.append((task.id, when)))
    start = sim.now()
    task = await sim.submit({**BODY, "callback_url": "https://example.com/hook"}, api_key="sk-new")
    other = await sim.submit({**BODY, "prompt": "something else"}, api_key="sk-new")

    seen: list[tuple[float, str, int]] = []
    for at in [0, 2, 5, 9]:
        await sim.advance(at - (seen[-1][0] if seen else 0))
        seen.append((at, *await status_of(sim, task.id, "sk-new")))

    assert task.id != TASK
    assert seen == SEEN
    assert (task.id, start + 9) in ended  # the end event, which sends the callback
    assert other.plan.estimated_time() == 45  # not recorded: simulated as usual (FAST)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the proxy exited"
        try:
            if httpx.get(f"{url}/_mock/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail("the proxy did not start")


@pytest.mark.processes
@pytest.mark.realclock
def test_a_proxy_killed_mid_recording_leaves_a_file_that_replays(tmp_path: Path) -> None:
    record = tmp_path / "rec.jsonl"
    port = free_port()
    with serve_in_thread(create_app(Settings(clock="virtual", timings=FAST))) as upstream:
        process = subprocess.Popen(
            [sys.executable, "-m", "mockserver.cli.main", "proxy", "--upstream", upstream,
             "--port", str(port), "--record", str(record), "--log-level", "warning"],
        )  # fmt: skip
        try:
            proxy = f"http://127.0.0.1:{port}"
            wait_healthy(proxy, process)
            auth = {"Authorization": "Bearer sk-killed-key"}
            task = httpx.post(f"{proxy}/v1/videos/generations", json=BODY, headers=auth).json()
            stop = threading.Event()

            def poll() -> None:  # polls in flight when the proxy dies
                for _ in range(500):
                    if stop.is_set():
                        return
                    httpx.post(f"{upstream}/_mock/clock/advance", json={"seconds": 1})
                    try:
                        httpx.get(f"{proxy}/v1/tasks/{task['id']}", headers=auth, timeout=2)
                    except httpx.TransportError:
                        return

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            deadline = time.monotonic() + 20
            while record.read_text().count("\n") < 6 and time.monotonic() < deadline:
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            stop.set()
            poller.join(10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    text = record.read_text()
    assert "sk-killed-key" not in text
    exchanges = read_recording(record)
    assert len(exchanges) >= 6
    assert all(json.loads(line)["version"] == 1 for line in text.splitlines()[: len(exchanges)])
    (recorded,) = recorded_tasks(exchanges)
    assert recorded.task_id == task["id"]
    with serve_in_thread(create_app(Settings(clock="virtual", replay=(recorded,)))) as replay:
        again = httpx.get(
            f"{replay}/v1/tasks/{task['id']}", headers={"Authorization": "Bearer sk-x"}
        )
    assert again.status_code == 200
    assert again.json()["status"] == "pending"


def test_a_line_cut_short_is_left_out_and_a_bad_line_is_named(tmp_path: Path) -> None:
    record = tmp_path / "rec.jsonl"
    writer = RecordingWriter(record)
    for exchange in recording(SEEN):
        writer.write(exchange)
    writer.close()
    with record.open("a") as out:
        out.write('{"version": 1, "method": "GET", "pa')  # the write a kill -9 interrupted

    assert len(read_recording(record)) == len(SEEN)
    record.write_text('{"version": 2}\n')
    with pytest.raises(ValueError, match=r"rec.jsonl:1: recording version 2"):
        read_recording(record)


def test_the_writer_scrubs_the_key_wherever_it_appears(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path / "rec.jsonl")
    body = {**BODY, "prompt": "my key is sk-leaky-key"}
    writer.write(
        Exchange("POST", "/v1/videos/generations", body, 400, None), secrets=("sk-leaky-key",)
    )
    writer.close()

    assert "sk-leaky-key" not in (tmp_path / "rec.jsonl").read_text()


@pytest.mark.processes
def test_serve_refuses_a_recording_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli.main", "serve", "--replay", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert "--replay" in done.stderr
    assert "bad.jsonl:1" in done.stderr


@pytest.mark.realclock
def test_a_recorded_lifecycle_replays_over_http_at_the_recorded_offsets(tmp_path: Path) -> None:
    """The acceptance walk: a proxy recording a real-clock upstream at speed 50, then a replay
    of the file on the virtual clock, the recorded task and a matching new create alike."""
    from mockserver.cli.main import recorded as replay_files
    from mockserver.service.proxy import Proxy
    from mockserver.spec import load_spec
    from mockserver.web.proxy import create_proxy_app
    from mockserver.web.vendor import VIDEO_DIR

    record = tmp_path / "rec.jsonl"
    upstream_app = create_app(Settings(clock="real", speed=50, timings=FAST))
    proxy_app = create_proxy_app(
        Proxy("", load_spec(), recorder=RecordingWriter(record), record_media=True)
    )
    auth = {"Authorization": "Bearer sk-acceptance-key"}
    with serve_in_thread(upstream_app) as upstream:
        proxy_app.proxy.upstream = upstream
        with serve_in_thread(proxy_app) as proxy, httpx.Client(base_url=proxy, headers=auth) as api:
            task = api.post("/v1/videos/generations", json=BODY, timeout=10).json()
            for _ in range(100):  # bounded: 45 simulated seconds are 0.9 real ones
                if api.get(f"/v1/tasks/{task['id']}", timeout=10).json()["status"] == "completed":
                    break
                time.sleep(0.05)
    assert "sk-acceptance-key" not in record.read_text()
    recorded = [
        (e.at or 0.0, e.response_body["status"], e.response_body["progress"])
        for e in read_recording(record)
    ]
    assert recorded[-1][1] == "completed"
    (saved,) = record.with_name("rec.jsonl.media").iterdir()
    # another playable MP4 in its place, to tell the recorded video from the bundled one
    saved.write_bytes((VIDEO_DIR / "1280x720-8s.mp4").read_bytes())
    (replayed,) = replay_files([record])

    with serve_in_thread(create_app(Settings(clock="virtual", replay=(replayed,)))) as mock:
        reader = httpx.Client(base_url=mock, headers={"Authorization": "Bearer sk-anyone"})
        first = reader.get(f"/v1/tasks/{task['id']}").json()  # the recorded clock starts here
        new = reader.post("/v1/videos/generations", json=BODY).json()
        seen_old: list[tuple[float, str, int]] = []
        seen_new: list[tuple[float, str, int]] = []
        now = 0.0
        for at, _, _ in recorded:
            # a microsecond on: sums of float steps may fall an ulp short of the offset
            reader.post("/_mock/clock/advance", json={"seconds": at - now + 1e-6})
            now = at + 1e-6
            for task_id, seen in ((task["id"], seen_old), (new["id"], seen_new)):
                body = reader.get(f"/v1/tasks/{task_id}").json()
                seen.append((at, body["status"], body["progress"]))
        video = reader.get(body["results"][0].removeprefix(mock))
        recorded_video = reader.get(f"/_mock/videos/{task['id']}.mp4")
        reader.close()

    assert first["status"] == "pending"
    assert seen_old == recorded
    assert seen_new == recorded
    assert recorded_video.content == saved.read_bytes()
    assert video.content == saved.read_bytes()


async def test_a_recorded_task_keeps_its_model_and_that_models_price(tmp_path: Path) -> None:
    body = create_body(model="sora-2-preview", prompt="A recorded cat", duration=8)
    writer = RecordingWriter(tmp_path / "rec.jsonl")
    for exchange in recording(SEEN):
        writer.write(
            dataclasses.replace(exchange, request_body=body)
            if exchange.method == "POST"
            else exchange
        )
    writer.close()
    tasks = recorded_tasks(read_recording(tmp_path / "rec.jsonl"))
    sim = Simulator(Settings(clock="virtual", timings=FAST, replay=tuple(tasks)))

    found = await sim.query(Call(QUERY, "Bearer sk-reader", base_url="http://mock"), TASK)

    assert found.task is not None
    shown = found.task.to_json(found.now)
    assert (shown["model"], shown["usage"]["credits_reserved"], shown["usage"]["billing_rule"]) == (
        "sora-2-preview",
        46.08,
        "per_call",
    )


def test_a_recorded_task_of_a_model_not_served_stops_serve(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('[models]\nserve = ["sora-2-preview"]\n')
    writer = RecordingWriter(tmp_path / "rec.jsonl")
    for exchange in recording(SEEN):  # a sora-2-pro-preview task
        writer.write(exchange)
    writer.close()
    argv = ["serve", "--config", str(config), "--replay", str(tmp_path / "rec.jsonl")]
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli.main", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"evolink-mock: error: recorded task {TASK}: Invalid request parameters: model: "
        "'sora-2-pro-preview' is not a model served here: one of sora-2-preview"
    )
