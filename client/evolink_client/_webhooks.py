"""Callback requests: parse the task they carry and, given a secret, verify their signature.

The vendor signs nothing; the simulator signs callbacks the Standard Webhooks way
(standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.
{body}")>`, with a `whsec_<base64>` secret. Written out by hand (it is a dozen lines) rather than
pulling in the `standardwebhooks` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ._errors import ConfigurationError, UnexpectedResponseError, WebhookVerificationError
from ._models import Task

#: How far a callback's timestamp may be from now, either way, in seconds.
TOLERANCE = 5 * 60.0
SECRET_PREFIX = "whsec_"
_VERSION = "v1"


@dataclass(frozen=True, slots=True)
class Callback:
    """A parsed callback. `webhook_id` is the same on every delivery attempt: dedupe on it."""

    task: Task
    webhook_id: str | None
    timestamp: int | None
    verified: bool


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError("a webhook secret is 'whsec_' + base64") from None
    if not key:
        raise ConfigurationError("the webhook secret is empty")
    return key


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign_callback(secret: str | bytes, webhook_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header value for a callback body."""
    content = f"{webhook_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return f"{_VERSION},{base64.b64encode(digest).decode('ascii')}"


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name!r}")


def verify_callback(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise WebhookVerificationError unless `body` carries a valid, fresh signature."""
    key = _secret_bytes(secret)
    webhook_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp").strip()
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not unix seconds")
    timestamp = int(stamp)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {now - timestamp:+.0f} s from now, over {tolerance:g} s"
        )
    expected = sign_callback(key, webhook_id, timestamp, body).encode("ascii")
    offered = _header(headers, "webhook-signature").split()
    # compare against every offered signature, so a match does not end the loop early
    matches = [hmac.compare_digest(expected, sig.encode("utf-8")) for sig in offered]
    if not any(matches):
        raise WebhookVerificationError("no webhook-signature matches the body")


def parse_callback(
    body: bytes | str,
    headers: Mapping[str, str] | None = None,
    *,
    secret: str | bytes | None = None,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> Callback:
    """The task in a callback body; verified first when `secret` is given.

    Pass the raw body bytes as received: re-serialised JSON would not match the signature.
    """
    headers = headers or {}
    if secret is not None:
        verify_callback(body, headers, secret, tolerance=tolerance, now=now)
    raw = _as_bytes(body).decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise UnexpectedResponseError(f"callback body is not JSON: {exc}", raw=raw) from exc
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get("webhook-timestamp", "").strip()
    return Callback(
        task=Task.from_json(data, raw=raw),
        webhook_id=lowered.get("webhook-id"),
        timestamp=int(stamp) if stamp.isascii() and stamp.isdigit() else None,
        verified=secret is not None,
    )
