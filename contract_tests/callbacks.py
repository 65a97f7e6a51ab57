"""The callback rules, checked end to end: what a receiver gets, and when.

A task's callback must carry the body its GET returns, and a receiver that keeps failing must see
exactly four attempts, 1, 2 and 4 s after each failed one (the vendor's schedule).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import httpx
from starlette.types import ASGIApp

from evolink_contract.checks import ContractViolation
from evolink_contract.settings import OWNER
from mockserver import Settings
from mockserver.domain.timing import FAST
from mockserver.testing import Receiver, serve_in_thread

SCHEDULE = [1.0, 2.0, 4.0]
#: The checks this part reports, and only it.
BODY_CHECK = "callback_body_equals_get"
RETRY_CHECK = "callback_retry_schedule"
#: Makes the app under test from its settings.
AppFactory = Callable[[Settings], ASGIApp]


def check_callbacks(make_app: AppFactory) -> None:
    """Raises ContractViolation naming the rule the app `make_app` builds breaks."""
    with Receiver([200]) as accepting, Receiver([500]) as failing:
        settings = Settings(
            timings=FAST,
            api_keys=frozenset({OWNER}),
            clock="virtual",
            callback_allow=frozenset({accepting.authority, failing.authority}),
            callback_allow_http=True,
            callback_timeout=1.0,
        )
        app = make_app(settings)
        headers = {"Authorization": f"Bearer {OWNER}"}
        with (
            serve_in_thread(app) as base_url,
            httpx.Client(base_url=base_url, headers=headers) as api,
        ):
            ids = [
                api.post(
                    "/v1/videos/generations",
                    json={
                        "model": "sora-2-pro-preview",
                        "prompt": "a cat",
                        "callback_url": receiver.url(),
                    },
                ).json()["id"]
                for receiver in (accepting, failing)
            ]
            api.post("/_mock/clock/advance", json={"seconds": 100}).raise_for_status()
            read = api.get(f"/v1/tasks/{ids[0]}").json()
            (log,) = api.get("/_mock/callbacks", params={"task_id": ids[1]}).json()
        delivered = accepting.requests

    if len(delivered) != 1 or delivered[0].json() != read:
        raise ContractViolation(
            BODY_CHECK,
            f"the callback body differs from GET /v1/tasks/{ids[0]}: "
            f"{[r.json() for r in delivered]} != {read}",
        )
    sent = [attempt["sent_at"] for attempt in log["attempts"]]
    gaps = [round(b - a, 3) for a, b in pairwise(sent)]
    if len(failing.requests) != 4 or gaps != SCHEDULE:
        raise ContractViolation(
            RETRY_CHECK,
            f"{len(failing.requests)} attempts with gaps {gaps}; expected 4 with gaps {SCHEDULE}",
        )
