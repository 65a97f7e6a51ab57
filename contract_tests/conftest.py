from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from starlette.applications import Starlette

from mockserver import Settings, create_app

CONFIG_FILE = Path(__file__).with_name("schemathesis.toml")
KEY = "sk-contract"


def schemathesis_config(key: str) -> schemathesis.Config:
    """The shared settings file, plus the bearer key of this run."""
    text = CONFIG_FILE.read_text()
    text += f'\n[auth.openapi.bearerAuth]\nbearer = "{key}"\n'
    return schemathesis.Config.from_str(text)


@pytest.fixture
def app() -> Starlette:
    """A fresh simulator that accepts only KEY, so that ignored auth would show."""
    return create_app(Settings(api_keys=frozenset({KEY}), clock="virtual"))


@pytest.fixture
def api_schema(app: Starlette) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis_config(KEY))
