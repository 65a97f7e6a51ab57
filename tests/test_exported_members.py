"""The public surface is what `__all__` says, and nothing private leaks into it."""

from __future__ import annotations

import types

import mockserver


def test_all_lists_every_public_member_and_only_those() -> None:
    public = {
        name
        for name in dir(mockserver)
        if not name.startswith("_") and not isinstance(getattr(mockserver, name), types.ModuleType)
    }
    # submodules are private (`_app`, `_spec`, ...) or entry points (`pytest_plugin`); any other
    # public name must be in __all__
    assert public == set(mockserver.__all__) - {"__version__"}
    for name in mockserver.__all__:
        assert getattr(mockserver, name) is not None
