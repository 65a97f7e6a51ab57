"""An offline simulator of Evolink's Sora video generation API (sora-2-pro-preview, sora-2-preview).

The names below are imported when first used: pytest loads this package's plugin in every test
run of a project that installs it, and that should not cost the import of the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .domain.clock import Clock, RealClock, VirtualClock
    from .domain.errors import (
        Forbidden,
        InsufficientQuota,
        InternalError,
        InvalidRequest,
        MockError,
        NotFound,
        RateLimited,
        Unauthorized,
    )
    from .domain.models import ModelProfile, Models, load_models
    from .domain.pricing import Pricing
    from .domain.tasks import Failure, Plan, Task, TaskStatus, VideoRequest
    from .domain.timing import Timings
    from .pytest_plugin import MockServerError
    from .service.simulator import Simulator
    from .settings import Settings
    from .spec import Spec, load_spec
    from .storage.base import Store
    from .storage.memory import MemoryStore
    from .web.app import MockApp, create_app

#: public name -> the module that defines it
_WHERE = {
    "Clock": ".domain.clock",
    "RealClock": ".domain.clock",
    "VirtualClock": ".domain.clock",
    "Forbidden": ".domain.errors",
    "InsufficientQuota": ".domain.errors",
    "InternalError": ".domain.errors",
    "InvalidRequest": ".domain.errors",
    "MockError": ".domain.errors",
    "NotFound": ".domain.errors",
    "RateLimited": ".domain.errors",
    "Unauthorized": ".domain.errors",
    "ModelProfile": ".domain.models",
    "Models": ".domain.models",
    "load_models": ".domain.models",
    "Pricing": ".domain.pricing",
    "Failure": ".domain.tasks",
    "Plan": ".domain.tasks",
    "Task": ".domain.tasks",
    "TaskStatus": ".domain.tasks",
    "VideoRequest": ".domain.tasks",
    "Timings": ".domain.timing",
    "Simulator": ".service.simulator",
    "Settings": ".settings",
    "Spec": ".spec",
    "load_spec": ".spec",
    "Store": ".storage.base",
    "MemoryStore": ".storage.memory",
    "MockServerError": ".pytest_plugin",  # raised by its fixtures' handles
    "MockApp": ".web.app",
    "create_app": ".web.app",
}

__all__ = [
    "Clock",
    "Failure",
    "Forbidden",
    "InsufficientQuota",
    "InternalError",
    "InvalidRequest",
    "MemoryStore",
    "MockApp",
    "MockError",
    "MockServerError",
    "ModelProfile",
    "Models",
    "NotFound",
    "Plan",
    "Pricing",
    "RateLimited",
    "RealClock",
    "Settings",
    "Simulator",
    "Spec",
    "Store",
    "Task",
    "TaskStatus",
    "Timings",
    "Unauthorized",
    "VideoRequest",
    "VirtualClock",
    "__version__",
    "create_app",
    "load_models",
    "load_spec",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'mockserver' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
