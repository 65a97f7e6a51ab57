"""`--db PATH`: the state survives a restart, a SIGTERM and a `kill -9`; without it, no database.

Unit tests of the SQLite layer first, then the simulator restarted in-process on one file, then
`evolink-mock serve` as a real process killed and restarted (marked realclock: they run in CI).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import signal
import sqlite3
import threading
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import Settings, Simulator
from mockserver.cli.main import build_parser, main, settings_from
from mockserver.domain.clock import RealClock, VirtualClock
from mockserver.domain.deliveries import Attempt, Delivery, Outcome
from mockserver.domain.journal import Entry
from mockserver.domain.profiles import profiles_from_dict
from mockserver.domain.tasks import Failure, Plan, Task, VideoRequest
from mockserver.domain.timing import FAST
from mockserver.service.clocks import continued
from mockserver.storage.base import Added, NewTask
from mockserver.storage.memory import MemoryStore
from mockserver.storage.sqlite import Database, DatabaseError, SqliteStore
from mockserver.testing.receiver import Receiver

from ..bodies import create_body
from ..callback_fixtures import api_for as shared_api_for
from ..served import serving

START = 1_800_000_000.0
KEY = "sk-persist-owner"
OTHER = "sk-other-key"
SERVE_KEY = "sk-k"
SECRET = "whsec_" + base64.b64encode(b"persistence-test-secret-32bytes!").decode()
BODY = create_body(duration=4)
RANK = {"pending": 0, "processing": 1, "completed": 2, "failed": 2}


# -- the SQLite layer -----------------------------------------------------------------------------


def _request(**changes: Any) -> VideoRequest:
    return VideoRequest("sora-2-pro-preview", "a cat", "16:9", 4, "720p")._replace(**changes)


def _tasks() -> list[Task]:
    """One of every shape a task can have."""
    plan = Plan(START, START + 5, START + 45)
    cancelled = Plan(START, START + 5, START + 125).failed_from(
        START + 37.25, Failure("request_cancelled", "The task was cancelled")
    )
    return [
        Task("task-unified-1-pending", KEY, _request(), plan, 7.0, "http://mock"),
        Task(
            "task-unified-2-failed",
            KEY,
            _request(duration=8, quality="1080p", aspect_ratio="9:16"),
            Plan(START, START + 5, START + 125, Failure("service_error", "Service error", 30)),
            23.338,
            "http://mock",
        ),
        Task("task-unified-3-cancelled", OTHER, _request(duration=12), cancelled, 21.0, "http://m"),
        Task(
            "task-unified-4-extras",
            KEY,
            _request(
                prompt="ünïcode 🐱 with a NUL \x00 and 'quotes'",
                image_urls=("https://example.com/a.png",),
                callback_url="https://example.com/hook?x=1",
            ),
            Plan(START + 0.125, START + 5.125, START + 45.125),
            7.0,
            "http://127.0.0.1:8000",
        ),
        Task(
            "task-unified-5-failed-at-once",
            KEY,
            _request(),
            Plan(START, START + 5, START + 45, Failure("content_policy_violation", "no", 0)),
            7.0,
            "http://mock",
        ),
    ]


def _no_credits(api_key: str) -> float | None:
    return None


async def _add(store: SqliteStore, task: Task) -> None:
    assert await store.add_task(NewTask(task, None, None, START)) == Added(task)


@pytest.mark.anyio
async def test_tasks_of_every_shape_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite")
    tasks = _tasks()
    store = SqliteStore(path)
    await store.open(_no_credits)
    for task in tasks:
        await _add(store, task)
    # a cancel replaces a plan
    tasks[0].plan = tasks[0].plan.failed_from(
        START + 20, Failure("request_cancelled", "The task was cancelled")
    )
    await store.save_plan(tasks[0])
    store.close()
    assert store.db.closed

    reopened = SqliteStore(path)
    try:
        loaded = (await reopened.open(_no_credits)).tasks
    finally:
        reopened.close()

    assert [task for task, _ in loaded] == tasks  # equal field by field, in creation order
    assert [handled for _, handled in loaded] == [False] * len(tasks)
    assert loaded[0][0].plan.ended == START + 20
    assert loaded[2][0].plan.stopped == START + 37.25


@pytest.mark.realclock
def test_the_clock_round_trips_and_the_stored_one_wins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    virtual, real = str(tmp_path / "virtual.sqlite"), str(tmp_path / "real.sqlite")
    db = Database(virtual)
    assert db.stored_clock() is None  # a new database
    db.save_clock(VirtualClock(START + 12.5))
    db.close()
    db = Database(real)
    db.save_clock(RealClock(20.0, START))
    saved_at = time.monotonic()
    db.close()

    db = Database(virtual)
    try:
        stored = db.stored_clock()
    finally:
        db.close()
    assert stored is not None
    clock = continued(stored, Settings(timings=FAST, clock="virtual"), "--db virtual.sqlite")
    assert isinstance(clock, VirtualClock)
    assert clock.now() == START + 12.5
    assert not caplog.records

    time.sleep(0.05)
    db = Database(real)
    try:
        stored = db.stored_clock()
    finally:
        db.close()
    assert stored is not None
    with caplog.at_level(logging.WARNING, logger="mockserver.store"):
        restored = continued(
            stored,
            Settings(timings=FAST, clock="real", speed=2.0, start_time=5.0),
            "--db real.sqlite",
        )
    elapsed = time.monotonic() - saved_at
    assert isinstance(restored, RealClock)
    assert restored.speed == 20.0
    # where the anchor says simulated time has got to: 20 simulated seconds per real one
    assert START + 0.04 * 20 <= restored.now() <= START + (elapsed + 0.05) * 20
    (warning,) = caplog.records
    assert "continuing its stored real clock x20" in warning.getMessage()
    assert "real clock x2 and start time 5.000" in warning.getMessage()


def test_the_journal_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mockserver.storage.sqlite_file.TRIM_EVERY", 10)
    path = str(tmp_path / "db.sqlite")
    entries = [Entry(START + i, "GET", f"/v1/tasks/{i}", "***", 200, None) for i in range(175)]
    db = Database(path, journal_limit=50)
    for entry in entries:
        db.append_entry(entry)
    assert 50 <= db.count("journal") < 60  # trimmed once per 10 new rows
    db.close()

    db = Database(path, journal_limit=50)
    try:
        assert db.count("journal") == 50  # trimmed at startup too
        assert db.load_journal() == entries[-50:]
    finally:
        db.close()


@pytest.mark.anyio
async def test_deliveries_round_trip_and_are_bounded_but_never_a_pending_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mockserver.storage.sqlite_file.TRIM_EVERY", 3)
    path = str(tmp_path / "db.sqlite")
    task = _tasks()[3]
    db = Database(path, delivery_limit=4)
    db.insert_task(task)
    deliveries = []
    for n in range(12):
        delivery = Delivery(task, "https://example.com/hook", f"msg_{n:02d}", "end")
        delivery.attempts.append(Attempt(1, START + 45))
        db.save_delivery(delivery)  # as an attempt starts...
        attempt = delivery.attempts[0]
        attempt.sent_at, attempt.duration = START + 45, 0.0
        if n == 0:  # ...and as it fails: the oldest stays pending, its retry due
            attempt.status_code, attempt.next_retry_at = 500, START + 46
        else:
            attempt.status_code, delivery.outcome = 200, Outcome.DELIVERED
        db.save_delivery(delivery)
        deliveries.append(delivery)
    db.close()

    db = Database(path, delivery_limit=4)
    try:
        (_, end_handled), *_ = db.load_tasks()
        loaded = db.load_deliveries({task.id: task}.get)
    finally:
        db.close()
    assert end_handled  # its end delivery was written down
    kept = [d.webhook_id for d in loaded]
    assert kept[0] == "msg_00"  # pending: never trimmed
    assert 4 <= len(kept) - 1 < 4 + 3
    assert kept[1:] == [d.webhook_id for d in deliveries[-(len(kept) - 1) :]]
    saved = {d.webhook_id: d for d in deliveries}
    for after in loaded:
        before = saved[after.webhook_id]
        assert after.task is task
        assert (after.url, after.trigger, after.outcome, after.attempts) == (
            before.url,
            before.trigger,
            before.outcome,
            before.attempts,
        )


def test_a_second_server_on_one_file_fails_and_so_does_a_file_of_another_kind(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "db.sqlite")
    first = Database(path)
    try:
        with pytest.raises(DatabaseError, match="locked"):
            Database(path)
    finally:
        first.close()
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x)")
    conn.close()
    with pytest.raises(DatabaseError, match="not an evolink-mock database"):
        Database(str(other))
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, but long enough to have a header of sorts " * 10)
    with pytest.raises(SystemExit, match=r"--db .*notes\.txt: file is not a database"):
        main(["serve", "--db", str(text), "--port", "0"])


def test_a_db_in_a_missing_folder_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--db", str(missing / "db.sqlite"), "--port", "0"])
    message = str(exited.value.code)
    assert message == (
        f"evolink-mock: error: --db {missing}/db.sqlite: the folder {missing} does not exist"
    )
    assert not missing.exists()


def test_serve_help_describes_db_and_the_flag_becomes_a_setting() -> None:
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr,index]
    text = " ".join(re.sub(r"-\n\s+", "-", serve.format_help()).split())
    for phrase in [
        "--db PATH keep the state in this SQLite file (created if missing)",
        "even after kill -9, continues where it stopped",
        "each written before its create is answered",
        "pending retries resume with the same webhook-id",
        "The stored clock wins over --clock, --speed and --start-time",
        "Admin faults and rate-limit buckets are not kept",
        "POST /_mock/reset empties the file too. Default: in memory only",
    ]:
        assert phrase in text
    assert settings_from(parser.parse_args(["serve"])).db_path is None
    assert settings_from(parser.parse_args(["serve", "--db", "x.sqlite"])).db_path == "x.sqlite"


# -- the simulator, restarted in-process --------------------------------------------------------


def api_for(sim: Simulator) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """`callback_fixtures.api_for`, authenticated as this module's key."""
    return shared_api_for(sim, KEY)


async def _create(api: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", {})
    response = await api.post("/v1/videos/generations", json={**BODY, **extra}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _snapshot(api: httpx.AsyncClient, ids: list[str]) -> dict[str, Any]:
    return {
        "clock": (await api.get("/_mock/clock")).json(),
        "accounts": (await api.get("/_mock/accounts")).json(),
        "listing": (await api.get("/_mock/tasks")).json(),
        "journal": (await api.get("/_mock/requests")).json(),
        "callbacks": (await api.get("/_mock/callbacks")).json(),
        "tasks": [(await api.get(f"/v1/tasks/{task_id}")).json() for task_id in ids],
    }


@pytest.mark.anyio
async def test_a_restart_continues_the_accounts_tasks_journal_and_clock(tmp_path: Path) -> None:
    settings = Settings(
        timings=FAST,
        clock="virtual",
        start_time=START,
        db_path=str(tmp_path / "db.sqlite"),
        profiles=profiles_from_dict({"defaults": {"credits": 1000}}),
    )
    first = Simulator(settings)
    async with api_for(first) as api:
        done = await _create(api)
        failing = await _create(api, headers={"X-Mock-Scenario": "fail:service_error@50"})
        cancelled = await _create(api, duration=12)
        running = await _create(api, duration=12, quality="1080p")
        other = await _create(api, headers={"Authorization": f"Bearer {OTHER}"})
        assert (await api.post("/_mock/clock/advance", json={"seconds": 30})).status_code == 200
        assert (await api.post(f"/_mock/tasks/{cancelled['id']}/cancel")).status_code == 200
        assert (await api.post("/_mock/clock/advance", json={"seconds": 30})).status_code == 200
        ids = [done["id"], failing["id"], cancelled["id"], running["id"]]
        before = await _snapshot(api, ids)
    assert isinstance(first.store, SqliteStore)
    assert first.store.db.closed

    second = Simulator(settings)
    async with api_for(second) as api:
        after = await _snapshot(api, ids)
        assert (await api.get(f"/v1/tasks/{other['id']}")).status_code == 403  # still OTHER's
        # the snapshot's reads are in the journal now: compare what was there before
        assert after["journal"][: len(before["journal"])] == before["journal"]
        assert after | {"journal": None} == before | {"journal": None}
        statuses = [task["status"] for task in after["tasks"]]
        assert statuses == ["completed", "failed", "failed", "processing"]
        assert after["accounts"] == [
            {
                "api_key": "sk-per...",
                "credits": 1000,
                "used": 69.12,
                "reserved": 345.66912,
                "remaining": 585.21088,
                "running": 1,
            },
            {
                "api_key": "sk-oth...",
                "credits": 1000,
                "used": 69.12,
                "reserved": 0.0,
                "remaining": 930.88,
                "running": 0,
            },
        ]
        # time goes on from where it stood: the running task completes and is charged
        await api.post("/_mock/clock/advance", json={"seconds": 200})
        accounts = (await api.get("/_mock/accounts")).json()
    assert [(a["used"], a["reserved"], a["running"]) for a in accounts] == [
        (414.78912, 0.0, 0),
        (69.12, 0.0, 0),
    ]


@pytest.mark.anyio
async def test_reset_empties_the_database_but_keeps_the_clock(tmp_path: Path) -> None:
    settings = Settings(
        timings=FAST, clock="virtual", start_time=START, db_path=str(tmp_path / "db.sqlite")
    )
    async with api_for(Simulator(settings)) as api:
        created = await _create(api)
        await api.post("/_mock/clock/advance", json={"seconds": 10})
        assert (await api.post("/_mock/reset")).status_code == 200

    sim = Simulator(settings)
    await sim.open()
    assert isinstance(sim.store, SqliteStore)
    db = sim.store.db
    async with api_for(sim) as api:
        assert [db.count(table) for table in ("tasks", "accounts", "deliveries")] == [0, 0, 0]
        assert (await api.get(f"/v1/tasks/{created['id']}")).status_code == 404
        assert (await api.get("/_mock/accounts")).json() == []
        assert [e["path"] for e in (await api.get("/_mock/requests")).json()] == [
            f"/v1/tasks/{created['id']}"
        ]
        assert (await api.get("/_mock/clock")).json()["now"] == START + 10


@pytest.mark.realclock
@pytest.mark.anyio
async def test_a_task_that_ended_while_the_server_was_down_is_settled_and_called_back(
    tmp_path: Path,
) -> None:
    with Receiver([200]) as receiver:
        settings = Settings(
            timings=FAST,
            clock="real",
            speed=100.0,  # the task's 45 simulated seconds take 0.45 real ones
            db_path=str(tmp_path / "db.sqlite"),
            callback_allow=frozenset({receiver.authority}),
            callback_allow_http=True,
            callback_secret=SECRET,
        )
        async with api_for(Simulator(settings)) as api:
            created = await _create(api, callback_url=receiver.url())
        # the server is down while the task ends
        await asyncio.sleep(0.6)
        assert receiver.requests == []

        sim = Simulator(settings)
        async with api_for(sim) as api:
            await sim.open()
            sim.start()  # what the app's lifespan does at startup
            (arrived,) = await asyncio.to_thread(receiver.wait_for, 1, 10.0)
            for _ in range(200):  # the attempt settles once the receiver has answered
                (delivery,) = (await api.get("/_mock/callbacks")).json()
                if delivery["outcome"] != "pending":
                    break
                await asyncio.sleep(0.01)
            accounts = (await api.get("/_mock/accounts")).json()
    assert arrived.json()["id"] == created["id"]
    assert arrived.json()["status"] == "completed"
    assert arrived.headers["webhook-id"] == delivery["webhook_id"]
    assert (delivery["trigger"], delivery["outcome"]) == ("end", "delivered")
    assert [(a["used"], a["reserved"], a["running"]) for a in accounts] == [(69.12, 0.0, 0)]


@pytest.mark.anyio
async def test_an_attempt_in_flight_when_the_server_stopped_is_sent_again(tmp_path: Path) -> None:
    with Receiver(["timeout", 200]) as receiver:
        settings = Settings(
            timings=FAST,
            clock="virtual",
            start_time=START,
            db_path=str(tmp_path / "db.sqlite"),
            callback_allow=frozenset({receiver.authority}),
            callback_allow_http=True,
            callback_secret=SECRET,
            callback_timeout=30.0,
        )
        first = Simulator(settings)
        async with api_for(first) as api:
            created = await _create(api, callback_url=receiver.url())
            first.scheduler.advance(45)  # the task ends: its attempt starts
            await first.store.save_clock(first.clock)
            # the attempt is written down and sent; the receiver holds it unanswered...
            await asyncio.to_thread(receiver.wait_for, 1, 10.0)
        # ...when the server stops: the shutdown cancels it
        (hung,) = receiver.requests
        (saved,) = await first.deliveries()

        sim = Simulator(settings)
        async with api_for(sim) as api:
            (stored,) = (await api.get("/_mock/callbacks")).json()
            await sim.open()
            sim.start()
            await sim.settle()
            (delivery,) = (await api.get("/_mock/callbacks")).json()
    _, arrived = receiver.requests
    assert hung.headers["webhook-id"] == saved.webhook_id
    assert stored["webhook_id"] == saved.webhook_id == arrived.headers["webhook-id"]
    assert [(a.attempt, a.status_code) for a in saved.attempts] == [(1, None)]
    assert (stored["outcome"], stored["attempts"]) == ("pending", [])  # to be sent again
    assert arrived.json()["id"] == created["id"]
    assert delivery["outcome"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in delivery["attempts"]] == [(1, 200)]
    assert delivery["attempts"][0]["scheduled_at"] == START + 45


@pytest.mark.anyio
async def test_the_in_memory_default_never_touches_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_database(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the in-memory path opened a database")

    monkeypatch.setattr(sqlite3, "connect", no_database)
    monkeypatch.setattr("mockserver.storage.sqlite.Database.__init__", no_database)
    with Receiver([500, 200]) as receiver:
        sim = Simulator(
            Settings(
                timings=FAST,
                clock="virtual",
                start_time=START,
                callback_allow=frozenset({receiver.authority}),
                callback_allow_http=True,
            )
        )
        assert type(sim.store) is MemoryStore
        async with api_for(sim) as api:
            await sim.open()
            sim.start()  # a no-op without --db
            kept = await _create(api, callback_url=receiver.url())
            cancelled = await _create(api)
            await api.post(f"/_mock/tasks/{cancelled['id']}/cancel")
            await api.post("/_mock/clock/advance", json={"seconds": 60})
            assert (await api.get(f"/v1/tasks/{kept['id']}")).json()["status"] == "completed"
            await api.post(f"/_mock/callbacks/{kept['id']}/replay")
            assert len((await api.get("/_mock/requests")).json()) == 3
            await api.post("/_mock/reset")
    assert len(receiver.requests) >= 2


# -- `evolink-mock serve` as a real process, killed and restarted --------------------------------


def _now(client: httpx.Client) -> float:
    now: float = client.get("/_mock/clock").json()["now"]
    return now


@pytest.mark.processes
@pytest.mark.realclock
def test_kill_9_under_load_loses_no_answered_create(tmp_path: Path) -> None:
    db = str(tmp_path / "db.sqlite")
    options = ["--db", db, "--clock", "real", "--api-key", SERVE_KEY, "--api-key", OTHER]
    auth = {"Authorization": f"Bearer {SERVE_KEY}"}
    # 85 simulated seconds, 4.25 real ones at 20x: most still running when the server is back
    longer = {**BODY, "duration": 8}
    answered: dict[str, dict[str, Any]] = {}
    broken: list[BaseException] = []
    enough = threading.Event()

    with serving(*options, "--speed", "20") as first:

        def load() -> None:
            with httpx.Client(base_url=first.url, headers=auth, timeout=5) as client:
                for _ in range(50):
                    try:
                        response = client.post("/v1/videos/generations", json=longer)
                    except httpx.HTTPError as exc:  # the server was killed under us
                        broken.append(exc)
                        return
                    assert response.status_code == 200, response.text
                    answered[response.json()["id"]] = response.json()
                    if len(answered) >= 40:
                        enough.set()

        with httpx.Client(base_url=first.url, timeout=5) as admin:
            clock_before = _now(admin)
        workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for worker in workers:
            worker.start()
        assert enough.wait(timeout=10)
        first.kill()  # mid-load: every worker has a create in flight or about to be
        killed_at = time.monotonic()
        for worker in workers:
            worker.join(timeout=10)
        assert not any(worker.is_alive() for worker in workers)
    assert 40 <= len(answered) < 200
    assert broken  # creates were in flight when the server died

    # restarted with another speed: the stored clock wins, and says so
    with serving(*options, "--speed", "5") as second:
        assert "continuing its stored real clock x20" in second.log()
        with (
            httpx.Client(base_url=second.url, headers=auth, timeout=5) as client,
            httpx.Client(base_url=second.url, timeout=5) as admin,
        ):
            assert admin.get("/_mock/clock").json()["speed"] == 20
            restarted_at = _now(admin)
            # simulated time went on while the server was down, at 20x
            assert restarted_at >= clock_before + (time.monotonic() - killed_at) * 20 * 0.5
            response = admin.get("/_mock/tasks", params={"limit": 10_000})
            listing = {task["id"]: task for task in response.json()}
            assert set(answered) <= set(listing)  # every answered create survived
            assert int(response.headers["x-total-count"]) == len(listing) >= len(answered)

            def read_all() -> tuple[float, dict[str, dict[str, Any]], float]:
                before = _now(admin)
                bodies = {
                    task_id: client.get(f"/v1/tasks/{task_id}").json() for task_id in answered
                }
                return before, bodies, _now(admin)

            def check(t1: float, bodies: dict[str, dict[str, Any]], t2: float) -> None:
                for task_id, body in bodies.items():
                    summary = listing[task_id]
                    plan = Plan(summary["created"], summary["started"], summary["ends_at"])
                    created = answered[task_id]
                    assert body["created"] == created["created"] == int(plan.created)
                    info = created["task_info"]
                    assert body["task_info"]["estimated_time"] == info["estimated_time"]
                    # what the plan gives between the two clock reads around the query
                    low, high = plan.status_at(t1), plan.status_at(t2)
                    assert RANK[low.value] <= RANK[body["status"]] <= RANK[high.value]
                    assert plan.progress_at(t1) <= body["progress"] <= plan.progress_at(t2)

            t1, first_read, t2 = read_all()
            check(t1, first_read, t2)
            # readable by their owner only
            other = client.get(
                f"/v1/tasks/{next(iter(answered))}", headers={"Authorization": f"Bearer {OTHER}"}
            )
            assert other.status_code == 403

            # wait (bounded) until every plan has ended: all completed, nothing went backward
            last_end = max(task["ends_at"] for task in listing.values())
            deadline = time.monotonic() + 10
            while _now(admin) < last_end and time.monotonic() < deadline:
                time.sleep(0.05)
            t1, second_read, t2 = read_all()
            check(t1, second_read, t2)
            for task_id, body in second_read.items():
                assert (body["status"], body["progress"]) == ("completed", 100)
                assert RANK[body["status"]] >= RANK[first_read[task_id]["status"]]
            # billing derived from the stored tasks: each charged 138.24 credits (8 s at 720p)
            (account,) = admin.get("/_mock/accounts").json()
            assert account["used"] == pytest.approx(138.24 * len(listing))
            assert (account["reserved"], account["running"]) == (0.0, 0)


@pytest.mark.processes
@pytest.mark.realclock
def test_a_pending_callback_resumes_after_kill_9_with_the_same_webhook_id(tmp_path: Path) -> None:
    db = str(tmp_path / "db.sqlite")
    auth = {"Authorization": f"Bearer {SERVE_KEY}"}
    with Receiver([500, 200]) as receiver:
        options = [
            "--db",
            db,
            "--clock",
            "virtual",
            "--start-time",
            str(START),
            "--api-key",
            SERVE_KEY,
            "--callback-allow",
            receiver.authority,
            "--callback-allow-http",
            "--callback-secret",
            SECRET,
        ]
        with serving(*options) as first, httpx.Client(base_url=first.url, timeout=10) as api:
            body = {**BODY, "callback_url": receiver.url()}
            created = api.post("/v1/videos/generations", json=body, headers=auth).json()
            # the task ends; its first attempt gets a 500; the retry is due 1 s later
            assert api.post("/_mock/clock/advance", json={"seconds": 45}).status_code == 200
            (before,) = api.get("/_mock/callbacks").json()
            accounts_before = api.get("/_mock/accounts").json()
            first.kill()
        assert [r.answer for r in receiver.requests] == [500]
        assert before["outcome"] == "pending"
        assert [(a["status_code"], a["next_retry_at"]) for a in before["attempts"]] == [
            (500, START + 46)
        ]

        with serving(*options) as second, httpx.Client(base_url=second.url, timeout=10) as api:
            assert api.get("/_mock/clock").json()["now"] == START + 45
            assert api.get("/_mock/callbacks").json() == [before]
            assert api.get("/_mock/accounts").json() == accounts_before
            assert api.post("/_mock/clock/advance", json={"seconds": 1}).status_code == 200
            (after,) = api.get("/_mock/callbacks").json()
            task = api.get(f"/v1/tasks/{created['id']}", headers=auth).json()
        first_try, retry = receiver.wait_for(2, 10.0)
    assert retry.answer == 200
    assert first_try.headers["webhook-id"] == retry.headers["webhook-id"] == before["webhook_id"]
    assert retry.json() == task
    assert after["outcome"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in after["attempts"]] == [(1, 500), (2, 200)]
    assert after["attempts"][1]["scheduled_at"] == START + 46


@pytest.mark.processes
@pytest.mark.realclock
def test_sigterm_lets_the_request_in_flight_finish_and_closes_the_database(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite"
    options = ["--db", str(db), "--clock", "real", "--speed", "20", "--api-key", SERVE_KEY]
    auth = {"Authorization": f"Bearer {SERVE_KEY}"}
    answers: list[httpx.Response] = []
    with serving(*options) as first:

        def slow_create() -> None:
            with httpx.Client(base_url=first.url, timeout=10) as client:
                slow = auth | {"X-Mock-Scenario": "latency:1500"}
                answers.append(client.post("/v1/videos/generations", json=BODY, headers=slow))

        creator = threading.Thread(target=slow_create, daemon=True)
        creator.start()
        time.sleep(0.5)  # the create is in the server, sleeping its 1.5 s
        code = first.terminate()
        creator.join(timeout=10)
        log = first.log()
    (answer,) = answers
    assert answer.status_code == 200, answer.text
    # uvicorn drains the request, shuts down gracefully, then re-raises the signal
    assert code == -signal.SIGTERM
    assert "Finished server process" in log
    # the lifespan's shutdown checkpointed and closed the database: no WAL left behind
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0

    with serving(*options) as second, httpx.Client(base_url=second.url, timeout=5) as client:
        task = client.get(f"/v1/tasks/{answer.json()['id']}", headers=auth)

    assert task.status_code == 200
    assert task.json()["created"] == answer.json()["created"]


@pytest.mark.processes
def test_a_key_answered_before_kill_9_is_bound_after_the_restart(tmp_path: Path) -> None:
    options = ["--db", str(tmp_path / "db.sqlite"), "--api-key", SERVE_KEY]
    headers = {"Authorization": f"Bearer {SERVE_KEY}", "Idempotency-Key": "before-the-crash"}
    with serving(*options) as first:
        made = httpx.post(f"{first.url}/v1/videos/generations", json=BODY, headers=headers)
        assert made.status_code == 200
        first.kill()

    with serving(*options) as second:
        again = httpx.post(f"{second.url}/v1/videos/generations", json=BODY, headers=headers)
        listed = httpx.get(f"{second.url}/_mock/tasks").json()

    assert again.status_code == 200
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == made.json()["id"]
    assert [task["id"] for task in listed] == [made.json()["id"]]
