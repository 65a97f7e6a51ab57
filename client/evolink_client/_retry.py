"""When to try a request again, and how long to wait first. No I/O here: the clients sleep.

The reasoning is in client/README.md, "Retries". In short: reads, and creates sent with an
`Idempotency-Key`, retry on 429, 500, 502, 503, 504 and any transport error (a keyed create also
on the 409 of a twin still in flight); a create without a key retries only when no task can have
been made: a 429, or a connection that was never established.
"""

from __future__ import annotations

import datetime
import email.utils
import math
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ._errors import APIConnectionError, APIStatusError, EvolinkError, IdempotencyConflictError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: The request never left: no connection was made, so the server cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time.

    The n-th retry (n = 1, 2, ...) waits `random() * min(max_delay, base_delay * 2 ** (n - 1))`
    seconds, or what `Retry-After` asks for when the response says. No retry is started that would
    end past `max_elapsed` seconds after the first attempt.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_elapsed: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_elapsed < 0:
            raise ValueError("delays must be >= 0")


NO_RETRY = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000"; HTTP dates are always GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def retryable(error: EvolinkError, *, idempotent: bool) -> bool:
    """Whether sending the request again is safe and may help.

    `idempotent`: sending the request twice does no more than sending it once: a read, or a
    create with an `Idempotency-Key` (the server answers a repeat with the first answer).
    """
    if isinstance(error, IdempotencyConflictError):
        # 409: the twin with this key is still running, and its answer is what a retry will get;
        # 422: the key belongs to another body, and will for as long as the server keeps it
        return error.in_flight
    if isinstance(error, APIStatusError):
        if idempotent:
            return error.status in RETRY_STATUSES
        # a 429 is refused before any work; a 5xx may come after the task was made and billed
        return error.status == 429
    if isinstance(error, APIConnectionError):
        return idempotent or isinstance(error.__cause__, _NOT_SENT)
    return False


class Attempts:
    """The retry state of one call: how many tries so far, and when it started."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        idempotent: bool,
        clock: Callable[[], float],
        random: Callable[[], float],
    ) -> None:
        self._policy = policy
        self._idempotent = idempotent
        self._clock = clock
        self._random = random
        self._started = clock()
        self.count = 1

    def delay_before_retry(self, error: EvolinkError) -> float | None:
        """Seconds to sleep before the next attempt, or None to give up and raise `error`."""
        policy = self._policy
        if self.count >= policy.max_attempts or not retryable(error, idempotent=self._idempotent):
            return None
        retry_after = error.retry_after if isinstance(error, APIStatusError) else None
        if retry_after is not None:
            delay = retry_after
        else:
            ceiling = min(policy.max_delay, policy.base_delay * 2 ** (self.count - 1))
            delay = self._random() * ceiling
        if self._clock() - self._started + delay > policy.max_elapsed:
            return None
        self.count += 1
        return delay
