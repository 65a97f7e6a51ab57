"""The contract, against a live server: each operation, the link-following stateful run, the
async-job state machine and the idempotency check. Run it with `evolink-contract`."""

from __future__ import annotations

import os
from typing import Any

import schemathesis

from evolink_contract.bulk import check_bulk_reads
from evolink_contract.idempotency import check_idempotency
from evolink_contract.lifecycle import run_lifecycle
from evolink_contract.settings import stateful_settings

schema = schemathesis.pytest.from_fixture("live_schema")


@schema.parametrize()
def test_operation(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate()


def test_stateful(live_schema: schemathesis.BaseSchema) -> None:
    live_schema.as_state_machine().run(settings=stateful_settings(live_schema.config))


def test_lifecycle(base_url: str, api_key: str) -> None:
    """Owner-only reads, forward-only statuses and progress, immutable terminal tasks."""
    examples = int(os.environ.get("EVOLINK_CONTRACT_MAX_EXAMPLES", "30"))
    if os.environ.get("EVOLINK_CONTRACT_PAID") == "1":  # each create is charged: a short walk
        run_lifecycle(
            base_url, api_key, "sk-contract-not-a-key", max_examples=min(examples, 5), steps=8
        )
    else:
        run_lifecycle(base_url, api_key, "sk-contract-not-a-key", max_examples=examples)


def test_idempotency(base_url: str, api_key: str) -> None:
    """One key, one task: the same create replayed, another request refused (422). It makes one
    task, which is charged on a paid server: evolink-contract gets there only with
    --allow-paid-creates."""
    check_idempotency(base_url, api_key)


def test_bulk_reads(base_url: str, api_key: str) -> None:
    """A batch read and a listing show the key's own task and never to another key. It makes
    one task, charged on a paid server, as the idempotency check does."""
    check_bulk_reads(base_url, api_key, "sk-contract-not-a-key")
