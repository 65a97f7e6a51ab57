"""The public surface is what `__all__` says, and nothing private leaks into it."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import mockserver


def test_all_lists_every_public_member_and_only_those() -> None:
    public = {
        name
        for name in dir(mockserver)
        if not name.startswith("_") and not isinstance(getattr(mockserver, name), types.ModuleType)
    }
    # the layers (`domain`, `web`, ...) are the package's own; any other public name is in
    # __all__, and every name in it resolves
    assert public == set(mockserver.__all__) - {"__version__"}
    assert set(mockserver._WHERE) == public  # each lazily imported name is listed, and only those
    for name in mockserver.__all__:
        assert getattr(mockserver, name) is not None


def test_the_plugins_error_is_importable_from_the_package() -> None:
    from mockserver import pytest_plugin

    # `except mockserver.MockServerError` catches what the fixtures' handles raise
    assert mockserver.MockServerError is pytest_plugin.MockServerError


@pytest.mark.processes
def test_the_pytest_plugin_loads_without_the_server() -> None:
    """pytest loads the plugin in every run of a project that installs this package."""
    code = (
        "import sys, mockserver.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('mockserver', 'starlette'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "['mockserver', 'mockserver._version', 'mockserver.pytest_plugin']"
