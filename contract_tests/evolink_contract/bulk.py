"""Reads of many tasks, over HTTP against any server: a batch read (`POST /v1/tasks/batch`) and
a listing (`GET /v1/tasks`) answer the caller's own tasks, and never another key's.

The vendor's pages do not document either route; its current client calls both
(`EvoLinkAI/evolink-mcp`, `packages/core/src/services/api-client.ts`: "unknown or foreign IDs
are simply absent"), and the merged spec declares them (`openapi/overlay.yaml`). Schemathesis
cannot see a leak between keys: a foreign task in a batch is a schema-valid answer. So this
check makes one task as the owner and reads it in bulk as the owner and as another key:

- `bulk_reads_own_tasks`: the owner's batch answers the task, and its listing shows it;
- `bulk_reads_hide_foreign_tasks`: the other key's batch and listing leave it out (or refuse
  the key with a 401 or 403).

It makes one task, the cheapest the spec allows (4 s, 720p): a caller guards a server where
creates are charged (`evolink-contract` sends none there without `--allow-paid-creates`).
"""

from __future__ import annotations

from typing import Any

import httpx

from .checks import ContractViolation
from .drift import CREATE_PATH, VALID_CREATE

OWN = "bulk_reads_own_tasks"
FOREIGN = "bulk_reads_hide_foreign_tasks"
BATCH_PATH = "/v1/tasks/batch"
LIST_PATH = "/v1/tasks"
BODY: dict[str, Any] = {**VALID_CREATE, "prompt": "contract check: bulk reads"}
#: the largest page the spec allows: a task made a moment ago is on its first page
PAGE = {"page": "1", "page_size": "100"}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _ids(response: httpx.Response, check: str, what: str) -> list[str]:
    """The task ids of a 200 answer `{"data": [{"id": ...}, ...]}`; ContractViolation(`check`)
    for any other answer."""
    try:
        data = response.json()["data"] if response.status_code == 200 else None
        ids = [str(item["id"]) for item in data] if isinstance(data, list) else None
    except (ValueError, KeyError, TypeError):
        ids = None
    if ids is None:
        raise ContractViolation(
            check, f"{what} answered {response.status_code}: {response.text[:200]}"
        )
    return ids


def check_bulk_reads(
    base_url: str,
    owner: str,
    stranger: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """Raises ContractViolation at the first way the server at `base_url` breaks the rule."""
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=30, transport=transport) as client:
        created = client.post(CREATE_PATH, json=BODY, headers=_auth(owner))
        if created.status_code != 200:
            raise ContractViolation(
                OWN, f"a valid create answered {created.status_code}: {created.text[:200]}"
            )
        task_id = str(created.json()["id"])
        batch = {"task_ids": [task_id]}

        mine = client.post(BATCH_PATH, json=batch, headers=_auth(owner))
        if _ids(mine, OWN, f"the owner's batch read of {task_id}") != [task_id]:
            raise ContractViolation(OWN, f"the owner's batch read of {task_id} left it out")
        listed = client.get(LIST_PATH, params=PAGE, headers=_auth(owner))
        if task_id not in _ids(listed, OWN, "the owner's listing"):
            raise ContractViolation(OWN, f"the owner's listing does not show {task_id}")

        theirs = client.post(BATCH_PATH, json=batch, headers=_auth(stranger))
        if theirs.status_code not in (401, 403) and task_id in _ids(
            theirs, FOREIGN, "another key's batch read"
        ):
            raise ContractViolation(
                FOREIGN, f"another key's batch read of {task_id} answered the owner's task"
            )
        others = client.get(LIST_PATH, params=PAGE, headers=_auth(stranger))
        if others.status_code not in (401, 403) and task_id in _ids(
            others, FOREIGN, "another key's listing"
        ):
            raise ContractViolation(FOREIGN, f"another key's listing shows {task_id}")
