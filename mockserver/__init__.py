"""An offline simulator of Evolink's Sora-2-Pro video generation API."""

from ._version import __version__
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
from .domain.pricing import Pricing
from .domain.tasks import Failure, Plan, Task, TaskStatus, VideoRequest
from .domain.timing import Timings
from .service.simulator import Simulator
from .settings import Settings
from .spec import Spec, load_spec
from .storage.base import Store
from .storage.memory import MemoryStore
from .web.app import MockApp, create_app

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
    "load_spec",
]
