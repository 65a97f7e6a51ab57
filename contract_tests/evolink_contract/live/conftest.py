from __future__ import annotations

import copy
import os

import pytest
import schemathesis

from evolink_contract.settings import schemathesis_config
from mockserver import load_spec


def live_setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: this suite runs through evolink-contract")
    return value


@pytest.fixture(scope="session")
def base_url() -> str:
    return live_setting("EVOLINK_CONTRACT_BASE_URL").rstrip("/")


@pytest.fixture(scope="session")
def api_key() -> str:
    return live_setting("EVOLINK_CONTRACT_API_KEY")


@pytest.fixture(scope="session")
def live_schema(base_url: str, api_key: str) -> schemathesis.BaseSchema:
    """The vendored spec (the real API serves none), pointed at the server under test."""
    max_examples = int(os.environ.get("EVOLINK_CONTRACT_MAX_EXAMPLES", "30"))
    seed = os.environ.get("EVOLINK_CONTRACT_SEED")
    config = schemathesis_config(
        api_key, max_examples=max_examples, seed=int(seed) if seed else None
    )
    # a copy: schemathesis writes the links it infers into the document it is given, and the
    # spec is the one the process serves and checks against (`evolink-contract` runs in-process)
    schema = schemathesis.openapi.from_dict(copy.deepcopy(load_spec().document), config=config)
    schema.config.update(base_url=base_url)
    return schema
