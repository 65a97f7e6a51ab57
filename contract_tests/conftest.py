from __future__ import annotations

import functools

import pytest
import schemathesis
from starlette.applications import Starlette

from evolink_contract import checks as _checks  # registers the custom schemathesis checks
from evolink_contract.settings import OWNER, STRANGER, schemathesis_config
from mockserver import Settings, Simulator, create_app
from mockserver.delivery.engine import CallbackEngine
from mockserver.delivery.ssrf import offline_resolver
from mockserver.domain.timing import FAST

from .mutants import OFFLINE

assert _checks


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated callback URLs never reach real DNS, whichever simulator receives them."""
    monkeypatch.setattr("mockserver.delivery.engine.system_resolver", offline_resolver)


@pytest.fixture
def app() -> Starlette:
    """A fresh simulator that accepts only two keys, so that ignored auth would show."""
    settings = Settings(timings=FAST, api_keys=frozenset({OWNER, STRANGER}), clock="virtual")
    # generated callback URLs must never reach real DNS, nor a receiver anywhere; nor may a
    # generated upload URL, an IP literal as it may be
    engine = functools.partial(CallbackEngine, transport=OFFLINE)
    return create_app(
        simulator=Simulator(settings, resolver=offline_resolver, callback_engine=engine)
    )


@pytest.fixture
def api_schema(app: Starlette) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis_config(OWNER))


# The installed harness (its live suite runs through evolink-contract against a server) is not
# part of the normal run.
collect_ignore = ["evolink_contract"]
