"""Idempotency keys: a create that carries `Idempotency-Key` makes its task once.

The vendor's docs say nothing of idempotency; its current client (`EvoLinkAI/evolink-mcp` 1.3.0)
sends the header on every create and retries with the same key after a lost answer, reading
`Idempotency-Replayed: true` as "the original task, no new charge". Where the vendor is silent the
semantics are the IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field" and Stripe's:

- a key belongs to one API key, and is kept `KEEP_FOR` simulated seconds (24 hours);
- the same key with the same request answers the task the first request made; with another
  request it is a conflict (422), and nothing is made;
- a key is bound only when a task was made: a refused create leaves it free.

A request is the same when its JSON body is (`fingerprint`): key order and whitespace aside.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from .errors import IdempotencyConflict, InvalidRequest

#: The request header, as the vendor's client spells it.
HEADER = "Idempotency-Key"
#: How long a key stays bound to its task, in simulated seconds (Stripe's 24 hours).
KEEP_FOR = 24 * 3600.0
#: The longest key accepted (Stripe's limit).
MAX_LENGTH = 255


class Claim(NamedTuple):
    """What a keyed create binds its key to its task with."""

    #: the `Idempotency-Key` header's value
    key: str
    #: the request it was first sent with (`fingerprint`)
    fingerprint: str
    #: the simulated time after which the key is free again
    expires: float


def checked_key(value: str) -> str:
    """The header's value, if it can be a key: 1 to `MAX_LENGTH` printable ASCII characters.
    Otherwise `InvalidRequest` whose `param` names the header."""
    if not value:
        problem = "is empty"
    elif len(value) > MAX_LENGTH:
        problem = f"is {len(value)} characters long; at most {MAX_LENGTH} are allowed"
    elif not (value.isascii() and value.isprintable()):
        problem = "must be printable ASCII characters"
    else:
        return value
    raise InvalidRequest(f"Invalid request parameters: {HEADER} {problem}", param=HEADER)


def fingerprint(body: object) -> str:
    """The request a key was sent with, as a digest of its JSON body in canonical form (keys
    sorted, no whitespace, non-ASCII escaped): a body that differs only in key order or spacing
    is the same request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(key: str, body: object, now: float) -> Claim:
    """The claim of a create that carries `key` with `body` at simulated time `now`."""
    return Claim(key, fingerprint(body), now + KEEP_FOR)


def conflict(claim: Claim, task_id: str) -> IdempotencyConflict:
    """The answer to a key sent with another request than the one that made `task_id`."""
    return IdempotencyConflict(
        f"{HEADER} {claim.key!r} was already used with another request: it belongs to task "
        f"{task_id}. Send a new key for a new request",
        param=HEADER,
    )
