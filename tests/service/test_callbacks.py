"""Callback delivery: when, what, how often, signed how, and what the log shows.

Receivers run on 127.0.0.1 over HTTPS with a throwaway CA; the mock's strict policy is opened
for exactly their host:port. Most tests run on the virtual clock, where attempt times are exact.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import standardwebhooks

from mockserver import Settings, Simulator, Timings
from mockserver.delivery.engine import ATTEMPT_TIMEOUT, MAX_CONCURRENCY
from mockserver.domain.deliveries import Outcome
from mockserver.domain.timing import FAST, Spread
from mockserver.testing.receiver import Receiver

from ..bodies import create_body
from ..callback_fixtures import (
    ENDS_AFTER,
    KEY,
    START,
    TLS,
    FakeResolver,
    advance,
    api_for,
    callback_settings,
    create,
    deliveries,
    https_receiver,
)
from ..conftest import MakeSimulator

pytestmark = pytest.mark.anyio

T = START + ENDS_AFTER  # when a default 4 s task ends, and its first attempt goes out
SECRET = "whsec_" + base64.b64encode(b"evolink-mock-callback-test-key!!").decode()


SimulatorFor = Callable[..., Simulator]


@pytest.fixture
def simulator_for(make_simulator: MakeSimulator) -> SimulatorFor:
    """`simulator_for(receivers, tls, **settings)`: a simulator on the store under test whose
    policy opens exactly the receivers' host:port; names resolve with a `FakeResolver`."""

    def make(
        receivers: Iterable[Receiver],
        tls: TLS | None = None,
        *,
        resolver: FakeResolver | None = None,
        **settings: Any,
    ) -> Simulator:
        return make_simulator(
            callback_settings(receivers, tls, **settings), resolver=resolver or FakeResolver()
        )

    return make


def sent_times(delivery: dict[str, Any]) -> list[float]:
    return [a["sent_at"] for a in delivery["attempts"]]


# -- retries on the virtual clock ----------------------------------------------------------------


async def test_a_receiver_answering_500_gets_4_attempts_at_t_t1_t3_t7(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [500]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    assert len(receiver.requests) == 4
    assert sent_times(delivery) == [T, T + 1, T + 3, T + 7]
    assert [a["scheduled_at"] for a in delivery["attempts"]] == [T, T + 1, T + 3, T + 7]
    assert [a["status_code"] for a in delivery["attempts"]] == [500] * 4
    assert [a["error"] for a in delivery["attempts"]] == [None] * 4
    assert [a["duration"] for a in delivery["attempts"]] == [0.0] * 4
    assert [a["next_retry_at"] for a in delivery["attempts"]] == [T + 1, T + 3, T + 7, None]
    assert [a["attempt"] for a in delivery["attempts"]] == [1, 2, 3, 4]
    assert delivery["outcome"] == "exhausted"
    assert delivery["url"] == receiver.url()
    assert delivery["trigger"] == "end"


async def test_a_receiver_answering_500_then_200_gets_2_attempts(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [500, 200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    assert len(receiver.requests) == 2
    assert sent_times(delivery) == [T, T + 1]
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attempts"][-1]["next_retry_at"] is None
    assert delivery["outcome"] == "delivered"


async def test_a_receiver_that_never_answers_times_out_at_10s_and_is_retried_1s_later(
    tls: TLS,
    simulator_for: SimulatorFor,
) -> None:
    with https_receiver(tls, ["timeout"]) as receiver:
        sim = simulator_for([receiver], tls, callback_timeout=0.2)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    attempts = delivery["attempts"]
    assert sent_times(delivery) == [T, T + 11, T + 23, T + 37]
    assert [a["duration"] for a in attempts] == [ATTEMPT_TIMEOUT] * 4
    assert [a["error"] for a in attempts] == ["timed out after 10 s"] * 4
    assert [a["status_code"] for a in attempts] == [None] * 4
    assert [a["next_retry_at"] for a in attempts] == [T + 11, T + 23, T + 37, None]
    assert delivery["outcome"] == "exhausted"
    assert len(receiver.requests) == 4


async def test_retries_are_scheduled_events_that_run_only_when_their_time_comes(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [500]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            seen = []
            for step in (ENDS_AFTER, 0.999, 0.001, 2.0, 100):
                await advance(api, step)
                (delivery,) = await deliveries(api, task["id"]) or [{"attempts": []}]
                seen.append(len(delivery["attempts"]))

    assert seen == [1, 1, 2, 3, 4]


async def test_a_task_without_a_callback_url_sends_nothing(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            await create(api, None)
            await advance(api, ENDS_AFTER + 10)
            assert await deliveries(api) == []
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("close", "connection dropped"),
        ("reset", "connection"),
    ],
    ids=["close", "reset"],
)
async def test_a_dropped_connection_is_a_failed_attempt(
    tls: TLS, answer: str, error: str, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [answer, 204]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    first, second = delivery["attempts"]
    assert first["status_code"] is None
    assert first["error"].startswith(error)
    assert first["duration"] == 0.0
    assert (second["sent_at"], second["status_code"]) == (T + 1, 204)
    assert delivery["outcome"] == "delivered"


async def test_a_redirect_is_not_followed_and_fails_the_attempt(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [302, 200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    assert [a["status_code"] for a in delivery["attempts"]] == [302, 200]
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]  # never /moved


async def test_a_certificate_the_mock_does_not_trust_fails_the_attempt(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], None)  # no --callback-ca-file
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    assert len(delivery["attempts"]) == 4
    assert all(a["error"].startswith("TLS failure") for a in delivery["attempts"])
    assert "CERTIFICATE_VERIFY_FAILED" in delivery["attempts"][0]["error"]
    assert delivery["outcome"] == "exhausted"
    assert receiver.requests == []


async def test_a_refused_connection_fails_the_attempt() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(
        timings=FAST,
        clock="virtual",
        start_time=START,
        callback_allow=frozenset({f"127.0.0.1:{port}"}),
    )
    sim = Simulator(settings, resolver=FakeResolver())
    async with api_for(sim) as api:
        task = await create(api, f"https://127.0.0.1:{port}/hook")
        await advance(api, ENDS_AFTER + 100)
        (delivery,) = await deliveries(api, task["id"])

    assert sent_times(delivery) == [T, T + 1, T + 3, T + 7]
    assert all(a["error"].startswith("connection failed") for a in delivery["attempts"])


async def test_a_dead_receiver_does_not_delay_another_tasks_delivery(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with (
        https_receiver(tls, ["timeout"]) as dead,
        https_receiver(tls, [200]) as alive,
    ):
        sim = simulator_for([dead, alive], tls, callback_timeout=2.0)
        async with api_for(sim) as api:
            await create(api, dead.url())
            await create(api, alive.url())
            started = time.monotonic()
            async with anyio.create_task_group() as group:
                group.start_soon(advance, api, ENDS_AFTER)
                arrived = await anyio.to_thread.run_sync(alive.wait_for, 1, 10.0)
            listing = await deliveries(api)

    # before the dead receiver's 2 s wait is over, with room for a loaded machine
    assert arrived[0].at - started < 1.5
    assert {d["url"]: d["outcome"] for d in listing} == {
        dead.url(): "pending",
        alive.url(): "delivered",
    }


# -- what is sent --------------------------------------------------------------------------------


async def test_the_body_is_the_tasks_query_body_at_that_moment(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER)
            query = await api.get(f"/v1/tasks/{task['id']}")

    (request,) = receiver.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.body == query.content  # byte for byte
    assert request.json()["status"] == "completed"
    assert request.json()["results"] == [f"http://mock.test/_mock/videos/{task['id']}.mp4"]
    # what the task cost and took, as its query says
    assert request.json()["usage"]["credits_used"] == task["usage"]["credits_reserved"]
    assert request.json()["duration"] == task["task_info"]["estimated_time"]


async def test_a_cancelled_task_delivers_failed_with_request_cancelled(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, 25)  # processing, 50 %
            cancelled = await api.post(f"/_mock/tasks/{task['id']}/cancel")
            query = await api.get(f"/v1/tasks/{task['id']}")
            (delivery,) = await deliveries(api, task["id"])

    assert cancelled.status_code == 200
    assert cancelled.json() == query.json()
    body = query.json()
    assert body["status"] == "failed"
    assert body["progress"] == 50
    assert body["error"] == {
        "code": "request_cancelled",
        "message": "The task was cancelled",
        "type": "task_error",
    }
    assert body["task_info"]["can_cancel"] is False
    assert (body["usage"]["credits_used"], body["duration"]) == (0, 25)
    (request,) = receiver.requests
    assert request.body == query.content
    assert sent_times(delivery) == [START + 25]
    assert delivery["outcome"] == "delivered"


async def test_cancel_refuses_an_ended_task_and_an_unknown_one(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER)
            ended = await api.post(f"/_mock/tasks/{task['id']}/cancel")
            unknown = await api.post("/_mock/tasks/task-unified-0-nosuchid/cancel")

    assert ended.status_code == 400
    assert ended.json()["error"]["message"] == "Task is already completed"
    assert ended.json()["error"]["param"] == "task_id"
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) >= {"code", "message", "type"}
    assert len(receiver.requests) == 1  # the completion's, and nothing for the refused cancel


async def test_a_cancelled_pending_task_releases_its_credits(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await api.post(f"/_mock/tasks/{task['id']}/cancel")
            (account,) = (await api.get("/_mock/accounts")).json()

    assert (account["reserved"], account["used"], account["running"]) == (0, 0, 0)
    assert receiver.requests[0].json()["progress"] == 0


# -- signing -------------------------------------------------------------------------------------


async def test_signed_attempts_verify_with_standardwebhooks_and_share_one_webhook_id(
    tls: TLS,
    simulator_for: SimulatorFor,
) -> None:
    # standardwebhooks checks the timestamp against the wall clock (5 min either way): the
    # virtual clock starts now, and the retries add only seconds to it
    with https_receiver(tls, [500, 500, 200]) as receiver:
        sim = simulator_for(
            [receiver], tls, start_time=float(int(time.time())), callback_secret=SECRET
        )
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 100)
            (delivery,) = await deliveries(api, task["id"])

    requests = receiver.requests
    assert len(requests) == 3
    webhook = standardwebhooks.Webhook(SECRET)
    for request in requests:
        assert webhook.verify(request.body, request.headers) == request.json()
    assert {r.headers["webhook-id"] for r in requests} == {delivery["webhook_id"]}
    assert [int(r.headers["webhook-timestamp"]) for r in requests] == [
        int(s) for s in sent_times(delivery)
    ]
    assert len({r.headers["webhook-timestamp"] for r in requests}) == 3  # fresh per attempt


async def test_callbacks_are_unsigned_by_default(tls: TLS, simulator_for: SimulatorFor) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            await create(api, receiver.url())
            await advance(api, ENDS_AFTER)

    (request,) = receiver.requests
    assert not [name for name in request.headers if name.startswith("webhook-")]


# -- replay, log, reset --------------------------------------------------------------------------


async def test_replay_sends_a_new_delivery_with_its_own_id_and_retries(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200, 500, 200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            await advance(api, ENDS_AFTER + 50)
            replay = await api.post(f"/_mock/callbacks/{task['id']}/replay")
            await advance(api, 10)
            first, second = await deliveries(api, task["id"])

    assert replay.status_code == 200
    assert replay.json()["trigger"] == "replay"
    assert replay.json()["attempts"][0]["status_code"] == 500  # settled before the answer
    assert first["trigger"] == "end"
    assert second["webhook_id"] != first["webhook_id"]
    assert sent_times(second) == [T + 50, T + 51]
    assert second["outcome"] == "delivered"
    assert receiver.requests[1].body == receiver.requests[0].body


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("unknown", 404, "No task with id"),
        ("no-callback", 400, "Task has no callback_url"),
        ("still-running", 400, "Task is still pending"),
    ],
)
async def test_replay_refuses_what_it_cannot_send(
    tls: TLS, case: str, status: int, message: str, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            task = await create(api, receiver.url() if case == "still-running" else None)
            if case == "no-callback":
                await advance(api, ENDS_AFTER)
            task_id = "task-unified-0-nosuchid" if case == "unknown" else task["id"]
            response = await api.post(f"/_mock/callbacks/{task_id}/replay")

    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(message)
    assert receiver.requests == []


async def test_the_log_filters_by_task_and_reset_clears_it(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            one = await create(api, receiver.url())
            two = await create(api, receiver.url())
            await advance(api, ENDS_AFTER)
            everything = await deliveries(api)
            only_two = await deliveries(api, two["id"])
            await api.post("/_mock/reset")
            after_reset = await deliveries(api)

    assert {d["task_id"] for d in everything} == {one["id"], two["id"]}
    assert [d["task_id"] for d in only_two] == [two["id"]]
    assert after_reset == []


async def test_reset_drops_pending_retries(tls: TLS, simulator_for: SimulatorFor) -> None:
    with https_receiver(tls, [500]) as receiver:
        sim = simulator_for([receiver], tls)
        async with api_for(sim) as api:
            await create(api, receiver.url())
            await advance(api, ENDS_AFTER)
            await api.post("/_mock/reset")
            await advance(api, 100)
            assert await deliveries(api) == []
    assert len(receiver.requests) == 1


async def test_a_synchronous_advance_leaves_attempts_for_drain(
    tls: TLS, simulator_for: SimulatorFor
) -> None:
    with https_receiver(tls, [200]) as receiver:
        sim = simulator_for([receiver], tls)
        task = await sim.submit(
            create_body(prompt="A cat", duration=4, callback_url=receiver.url()), api_key=KEY
        )
        # run what falls due in a thread with no event loop: the attempt waits for drain()
        await anyio.to_thread.run_sync(sim.scheduler.advance, ENDS_AFTER)
        assert receiver.requests == []
        await sim.callbacks.drain()
        await sim.callbacks.aclose()

    (delivery,) = await sim.deliveries(task.id)
    assert delivery.outcome is Outcome.DELIVERED
    assert len(receiver.requests) == 1


# -- the transport seam: concurrency and address pinning, without any network -----------------


async def test_at_most_max_concurrency_attempts_are_in_flight(
    make_simulator: MakeSimulator,
) -> None:
    in_flight = 0
    peak = 0
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= MAX_CONCURRENCY:
            release.set()
        await release.wait()
        in_flight -= 1
        return httpx.Response(200)

    resolver = FakeResolver({"hooks.example": ["93.184.215.14"]})
    sim = make_simulator(
        Settings(timings=FAST, clock="virtual", start_time=START), resolver=resolver
    )
    sim.callbacks.transport = httpx.MockTransport(handler)
    for _ in range(MAX_CONCURRENCY + 36):
        await sim.submit(
            create_body(prompt="A cat", duration=4, callback_url="https://hooks.example/"),
            api_key=KEY,
        )
    with anyio.fail_after(10):
        await sim.advance(ENDS_AFTER)
    await sim.callbacks.aclose()

    assert peak == MAX_CONCURRENCY
    assert {d.outcome for d in await sim.deliveries()} == {Outcome.DELIVERED}


async def test_an_attempt_connects_to_the_address_it_checked_with_the_original_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    resolver = FakeResolver({"hooks.example": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    sim = Simulator(Settings(timings=FAST, clock="virtual", start_time=START), resolver=resolver)
    sim.callbacks.transport = httpx.MockTransport(handler)
    await sim.submit(
        create_body(prompt="A cat", duration=4, callback_url="https://hooks.example:8443/cb?x=1"),
        api_key=KEY,
    )
    await sim.advance(ENDS_AFTER)
    await sim.callbacks.aclose()

    (sent,) = seen
    assert str(sent.url) == "https://93.184.215.14:8443/cb?x=1"
    assert sent.headers["host"] == "hooks.example:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example"
    assert resolver.asked == ["hooks.example", "hooks.example"]  # at submit, then at delivery


# -- the real clock ------------------------------------------------------------------------------


@pytest.mark.realclock
async def test_on_the_real_clock_retries_come_1_2_and_4_seconds_after_each_failure(
    tls: TLS,
) -> None:
    instant = Timings(queue=Spread(0.0), per_video_second={"720p": 0.0, "1080p": 0.0})
    with https_receiver(tls, [500]) as receiver:
        settings = Settings(
            clock="real",
            timings=instant,
            callback_allow=frozenset({receiver.authority}),
            callback_ca_file=tls.ca_file,
        )
        sim = Simulator(settings, resolver=FakeResolver())
        async with api_for(sim) as api:
            task = await create(api, receiver.url())
            requests = await anyio.to_thread.run_sync(receiver.wait_for, 4, 15.0)
            with anyio.fail_after(5):
                while (await deliveries(api, task["id"]))[0]["outcome"] == "pending":
                    await anyio.sleep(0.05)

    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(requests)]
    assert gaps == pytest.approx([1.0, 2.0, 4.0], abs=0.25)
    assert len(receiver.requests) == 4


@pytest.mark.processes
def test_the_benchmark_runs_and_delivers_each_task_once() -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "callbacks.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--tasks", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "delivered exactly once: 20 requests, 20 distinct task ids" in result.stdout
    assert "deliveries per second:" in result.stdout
