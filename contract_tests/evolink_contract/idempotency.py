"""The idempotency rule, over HTTP against any server: a create carrying `Idempotency-Key` makes
its task once.

The vendor's pages say nothing of idempotency, but its current client (`EvoLinkAI/evolink-mcp`
1.3.0) sends `Idempotency-Key` on every create and reads `Idempotency-Replayed: true` as "the
original task, no new charge"; the merged spec declares the header, the replay's header and the
422 (`openapi/overlay.yaml`). The semantics are the IETF
HTTPAPI draft "The Idempotency-Key HTTP Header Field" and Stripe's idempotent requests.

`idempotency_key_honoured` sends four creates under one fresh key: the request, the same
request again (a replay: the first task, `Idempotency-Replayed: true`), another request (the
documented 422 `idempotency_conflict`, naming the task) and the first request once more (still
the first task: the conflict bound nothing). A server that honours the key makes one task of
them, the cheapest the spec allows (4 s, 720p).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from mockserver import load_spec

from .checks import ContractViolation
from .drift import CREATE_PATH, VALID_CREATE

CHECK = "idempotency_key_honoured"
HEADER = "Idempotency-Key"
REPLAYED = "Idempotency-Replayed"
#: the request the key is bound to, and another one sent with the same key
BODY: dict[str, Any] = {**VALID_CREATE, "prompt": "contract check: Idempotency-Key"}
OTHER: dict[str, Any] = {**BODY, "prompt": "contract check: Idempotency-Key, another request"}


def check_idempotency(
    base_url: str,
    api_key: str,
    *,
    key: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Raises ContractViolation(`idempotency_key_honoured`) at the first way the server at
    `base_url` breaks the rule. `key` defaults to a fresh random one, so that no earlier run's
    binding (kept 24 hours) answers the first create.

    It creates a task: a caller guards a server where creates are charged (`evolink-contract`
    sends none there without `--allow-paid-creates`)."""
    key = key or f"evolink-contract-{secrets.token_hex(16)}"
    headers = {"Authorization": f"Bearer {api_key}", HEADER: key}
    with httpx.Client(
        base_url=base_url.rstrip("/"), headers=headers, timeout=30, transport=transport
    ) as client:
        first = _created(client.post(CREATE_PATH, json=BODY), f"a create with a fresh {HEADER}")
        if first.headers.get(REPLAYED) == "true":
            raise ContractViolation(
                CHECK, f"the first create with {HEADER} {key!r} answered {REPLAYED}: true"
            )
        task_id = str(first.json()["id"])
        again = client.post(CREATE_PATH, json=BODY)
        _replays(again, task_id, f"the same create again with {HEADER} {key!r}")
        _conflicts(client.post(CREATE_PATH, json=OTHER), task_id, key)
        after = client.post(CREATE_PATH, json=BODY)
        _replays(after, task_id, f"the first create once more, after {key!r} was refused")


def _created(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code != 200:
        raise ContractViolation(
            CHECK, f"{what} answered {response.status_code}: {response.text[:200]}"
        )
    return response


def _replays(response: httpx.Response, task_id: str, what: str) -> None:
    """`response` answers the task `task_id` made, and says it is a replay."""
    answered = _created(response, what).json().get("id")
    if answered != task_id:
        raise ContractViolation(
            CHECK, f"{what} answered task {answered}, not {task_id}: a second task was made"
        )
    replayed = response.headers.get(REPLAYED)
    if replayed != "true":
        shown = "no header" if replayed is None else repr(replayed)
        raise ContractViolation(CHECK, f"{what} answered task {task_id} with {REPLAYED} {shown}")


def _conflicts(response: httpx.Response, task_id: str, key: str) -> None:
    """`response` is the documented 422 for a key sent with another request: its code, type and
    param, and a message naming the task the key belongs to."""
    documented = load_spec().errors["createVideoGeneration"][422]
    what = f"another request with {HEADER} {key!r} (bound to task {task_id})"
    try:
        error = response.json()["error"]
        found = (error["code"], error["type"], error.get("param"), error["message"])
    except (ValueError, KeyError, TypeError):
        found = None
    expected = (documented.code, documented.type, documented.param)
    if response.status_code != 422 or found is None or found[:3] != expected:
        raise ContractViolation(
            CHECK,
            f"{what} answered {response.status_code}: {response.text[:200]}; expected 422 "
            f"with code {documented.code}, type {documented.type}, param {documented.param}",
        )
    if task_id not in str(found[3]):
        raise ContractViolation(CHECK, f"{what}: the 422's message does not name the task")
