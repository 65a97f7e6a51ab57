"""Standard Webhooks signatures (standardwebhooks.com) for callbacks: off unless a secret is set.

The vendor signs nothing. With `--callback-secret whsec_<base64>` every attempt carries
`webhook-id` (the same on every retry of one delivery), `webhook-timestamp` (the simulated time
the attempt is sent, integer seconds) and `webhook-signature: v1,<base64 HMAC-SHA256>` of
`"{id}.{timestamp}.{body}"`, keyed with the decoded secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a callback secret is 'whsec_' followed by base64")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("a callback secret is 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the callback secret is empty")
    return key


def signature_headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest}",
    }
