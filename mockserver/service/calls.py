"""A call of the vendor's API as the service sees it: no HTTP, only what the call carries and
what the service learns about it on the way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from ..domain.tasks import Task

#: Reads the call's JSON body (raising InvalidRequest for one that is not JSON, or too big).
BodyReader = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class Call:
    """One request of a vendor operation.

    The HTTP layer fills in what the request carries; the service fills in `owner` and
    `scenario` as it learns them, so that whatever answers (a task or an error) can be
    journaled with them.
    """

    operation: str
    authorization: str | None
    #: The `X-Mock-Scenario` header.
    scenario_header: str | None = None
    #: The `Prefer` header (Prism's `code=STATUS`).
    prefer: str | None = None
    #: Where result links point: the base URL the client reached the server at.
    base_url: str = ""
    #: The API key the call authenticated with, once known.
    owner: str | None = None
    #: The name of the scenario applied to the call, if any.
    scenario: str | None = None
    #: The answer's `X-Request-Id`, also in the journal and the access log.
    request_id: str = ""
    #: Whether `scenario` was drawn by seeded chaos (journaled as `chaos:NAME`).
    chaos: bool = False
    #: `time.perf_counter()` when the call was read, for the latency metric.
    started: float | None = None
    #: The `Idempotency-Key` header, as sent.
    idempotency_key: str | None = None
    #: Whether a create answered the task its idempotency key was bound to already.
    replayed: bool = False


class Answer(NamedTuple):
    """What a vendor operation answers: a task as it is at `now`, or a connection cut short
    (`dropped`): before the operation ran (no task), or after the create made its task."""

    task: Task | None
    now: float
    dropped: bool = False
