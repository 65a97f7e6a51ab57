from __future__ import annotations

import pytest
import schemathesis
from starlette.applications import Starlette

from mockserver import Settings, Simulator, create_app
from mockserver._ssrf import offline_resolver

from . import checks as _checks  # registers the custom schemathesis checks
from .settings import OWNER, STRANGER, schemathesis_config

assert _checks


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated callback URLs never reach real DNS, whichever simulator receives them."""
    monkeypatch.setattr("mockserver._callbacks.system_resolver", offline_resolver)


@pytest.fixture
def app() -> Starlette:
    """A fresh simulator that accepts only two keys, so that ignored auth would show."""
    settings = Settings(api_keys=frozenset({OWNER, STRANGER}), clock="virtual")
    # generated callback URLs must never reach real DNS, nor a receiver anywhere
    return create_app(simulator=Simulator(settings, resolver=offline_resolver))


@pytest.fixture
def api_schema(app: Starlette) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis_config(OWNER))


# The live suite runs through evolink-contract against a server; not in the normal run.
collect_ignore = ["live"]
