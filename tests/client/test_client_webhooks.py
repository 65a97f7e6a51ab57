"""Callbacks: Standard Webhooks signatures checked by hand; tampering and staleness rejected."""

from __future__ import annotations

import base64
import json

import pytest

from evolink_client import (
    ConfigurationError,
    TaskStatus,
    UnexpectedResponseError,
    WebhookVerificationError,
    parse_callback,
    sign_callback,
    verify_callback,
)

from ..client_fixtures import TASK_ID, completed_body

SECRET = "whsec_" + base64.b64encode(b"simulator-callback-secret-32byte").decode()
NOW = 1_800_000_000
BODY = json.dumps(completed_body()).encode()


def signed_headers(body: bytes = BODY, *, secret: str = SECRET, ts: int = NOW) -> dict[str, str]:
    return {
        "webhook-id": "msg_2mQ4",
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_callback(secret, "msg_2mQ4", ts, body),
    }


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # the example in the Standard Webhooks specification and its reference libraries
    signature = sign_callback(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_valid_callback_is_verified_and_parsed() -> None:
    callback = parse_callback(BODY, signed_headers(), secret=SECRET, now=NOW)
    assert callback.verified
    assert callback.webhook_id == "msg_2mQ4"
    assert callback.timestamp == NOW
    assert callback.task.id == TASK_ID
    assert callback.task.status is TaskStatus.COMPLETED


def test_header_names_are_case_insensitive_and_body_may_be_text() -> None:
    headers = {k.title(): v for k, v in signed_headers().items()}
    assert parse_callback(BODY.decode(), headers, secret=SECRET, now=NOW).verified


def test_raw_secret_bytes_are_accepted() -> None:
    raw = base64.b64decode(SECRET.removeprefix("whsec_"))
    verify_callback(BODY, signed_headers(), raw, now=NOW)


def test_any_one_of_several_signatures_may_match() -> None:
    headers = signed_headers()
    good = headers["webhook-signature"]
    headers["webhook-signature"] = f"v1,AAAA{good[7:]} {good}"
    verify_callback(BODY, headers, SECRET, now=NOW)


def test_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b'"completed"', b'"failed"')
    with pytest.raises(WebhookVerificationError, match="signature"):
        parse_callback(tampered, signed_headers(), secret=SECRET, now=NOW)


def test_reserialised_json_is_rejected() -> None:
    reserialised = json.dumps(json.loads(BODY), indent=2).encode()
    with pytest.raises(WebhookVerificationError):
        verify_callback(reserialised, signed_headers(), SECRET, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    other = "whsec_" + base64.b64encode(b"another-secret").decode()
    with pytest.raises(WebhookVerificationError):
        verify_callback(BODY, signed_headers(), other, now=NOW)


def test_changed_webhook_id_is_rejected() -> None:
    headers = signed_headers() | {"webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        verify_callback(BODY, headers, SECRET, now=NOW)


def test_signature_without_v1_prefix_is_rejected() -> None:
    headers = signed_headers()
    headers["webhook-signature"] = headers["webhook-signature"].removeprefix("v1,")
    with pytest.raises(WebhookVerificationError):
        verify_callback(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("age", "ok"),
    [(0, True), (300, True), (-300, True), (301, False), (-301, False), (86400, False)],
    ids=["now", "5min-old", "5min-ahead", "stale", "future", "a-day-old"],
)
def test_timestamp_tolerance_is_five_minutes_either_way(age: int, ok: bool) -> None:
    headers = signed_headers(ts=NOW - age)
    if ok:
        verify_callback(BODY, headers, SECRET, now=NOW)
    else:
        with pytest.raises(WebhookVerificationError, match="timestamp"):
            verify_callback(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    headers = signed_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match=missing):
        verify_callback(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize(
    "stamp", ["soon", "1.5e9", "", "-1", "١٢٣"], ids=["word", "float", "empty", "neg", "arabic"]
)
def test_malformed_timestamp_is_rejected(stamp: str) -> None:
    headers = signed_headers() | {"webhook-timestamp": stamp}
    with pytest.raises(WebhookVerificationError):
        verify_callback(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize(
    "secret", ["whsec_not base64!", "whsec_", b""], ids=["junk", "empty", "empty-bytes"]
)
def test_malformed_secret_is_a_configuration_error(secret: str | bytes) -> None:
    with pytest.raises(ConfigurationError) as info:
        verify_callback(BODY, signed_headers(), secret, now=NOW)
    assert "not base64" not in str(info.value)


def test_parse_without_secret_is_unverified() -> None:
    callback = parse_callback(BODY)
    assert not callback.verified
    assert callback.webhook_id is None
    assert callback.task.id == TASK_ID


@pytest.mark.parametrize(
    "body", [b"not json", b'{"id": "x"}', b"[]"], ids=["text", "not-a-task", "list"]
)
def test_callback_body_that_is_not_a_task_is_unexpected(body: bytes) -> None:
    with pytest.raises(UnexpectedResponseError) as info:
        parse_callback(body, signed_headers(body), secret=SECRET, now=NOW)
    assert info.value.raw == body.decode()


def test_verification_uses_the_real_clock_by_default() -> None:
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        verify_callback(BODY, signed_headers(ts=1_000_000_000), SECRET)
