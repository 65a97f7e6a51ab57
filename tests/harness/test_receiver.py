"""The test receiver: answers its script in order, records what arrived, speaks HTTPS."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest

from mockserver.testing.receiver import Answer, Receiver

from ..callback_fixtures import TLS, https_receiver


def post(client: httpx.Client, url: str, n: int) -> int:
    return client.post(url, json={"n": n}).status_code


def test_it_answers_its_script_in_order_and_then_repeats_the_last_answer() -> None:
    with Receiver([500, 204, 200]) as receiver, httpx.Client() as client:
        statuses = [post(client, receiver.url(), n) for n in range(5)]

    assert statuses == [500, 204, 200, 200, 200]
    assert [r.json() for r in receiver.requests] == [{"n": n} for n in range(5)]
    assert [r.answer for r in receiver.requests] == [500, 204, 200, 200, 200]


def test_it_records_method_path_headers_body_and_a_monotonic_time() -> None:
    before = time.monotonic()
    with Receiver() as receiver, httpx.Client() as client:
        client.post(receiver.url("/cb?x=1"), content=b'{"a":1}', headers={"X-Custom": "Yes"})
    (request,) = receiver.requests

    assert (request.method, request.path, request.body) == ("POST", "/cb?x=1", b'{"a":1}')
    assert request.headers["x-custom"] == "Yes"
    assert request.headers["host"] == receiver.authority
    assert before <= request.at <= time.monotonic()


def test_a_redirect_answer_carries_a_location() -> None:
    with Receiver([302]) as receiver, httpx.Client() as client:
        response = client.post(receiver.url(), content=b"")

    assert (response.status_code, response.headers["location"]) == (302, "/moved")


def test_timeout_never_answers_until_the_client_gives_up() -> None:
    with Receiver(["timeout", 200]) as receiver, httpx.Client(timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.post(receiver.url(), content=b"x")
        waited = time.monotonic() - started
        assert post(client, receiver.url(), 2) == 200

    assert 0.2 <= waited < 2.0
    assert [r.answer for r in receiver.requests] == ["timeout", 200]


@pytest.mark.parametrize("answer", ["close", "reset"])
def test_close_and_reset_drop_the_connection_without_an_answer(answer: Answer) -> None:
    with Receiver([answer, 200]) as receiver, httpx.Client() as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.post(receiver.url(), content=b"x")
        assert post(client, receiver.url(), 2) == 200

    assert len(receiver.requests) == 2


def test_it_speaks_https_with_a_throwaway_ca(tls: TLS) -> None:
    with https_receiver(tls, [201]) as receiver:
        assert receiver.url().startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=tls.ca_file)) as trusting:
            assert trusting.post(receiver.url(), content=b"x").status_code == 201
        with httpx.Client() as untrusting, pytest.raises(httpx.ConnectError):
            untrusting.post(receiver.url(), content=b"x")

    assert len(receiver.requests) == 1  # the refused handshake never became a request


def test_wait_for_returns_once_enough_requests_arrived_and_times_out_otherwise() -> None:
    with Receiver() as receiver, httpx.Client() as client:
        post(client, receiver.url(), 1)
        assert len(receiver.wait_for(1, timeout=1.0)) == 1
        with pytest.raises(TimeoutError, match="1 of 2 requests arrived"):
            receiver.wait_for(2, timeout=0.1)


def test_it_listens_on_loopback_on_a_free_port() -> None:
    with Receiver() as one, Receiver() as two:
        assert one.host == two.host == "127.0.0.1"
        assert one.port != two.port
        assert one.url() == f"http://127.0.0.1:{one.port}/hook"


@pytest.mark.parametrize("script", [[], [99], ["later"]], ids=["empty", "status-99", "word"])
def test_a_bad_script_is_refused(script: list[object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message names the answer
        Receiver(script)  # type: ignore[arg-type]


def test_after_it_stops_nothing_listens_on_its_port() -> None:
    with Receiver() as receiver:
        url = receiver.url()
    with httpx.Client() as client, pytest.raises(httpx.ConnectError):
        client.post(url, content=b"x")
