"""An offline simulator of Evolink's Sora-2-Pro video generation API."""

from ._app import create_app
from ._backend import Simulator
from ._clock import Clock, RealClock, VirtualClock
from ._errors import (
    Forbidden,
    InsufficientQuota,
    InternalError,
    InvalidRequest,
    MockError,
    NotFound,
    RateLimited,
    Unauthorized,
)
from ._settings import Settings
from ._spec import Spec, load_spec
from ._tasks import Failure, Plan, Pricing, Task, TaskStatus, Timings, VideoRequest

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "Failure",
    "Forbidden",
    "InsufficientQuota",
    "InternalError",
    "InvalidRequest",
    "MockError",
    "NotFound",
    "Plan",
    "Pricing",
    "RateLimited",
    "RealClock",
    "Settings",
    "Simulator",
    "Spec",
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
