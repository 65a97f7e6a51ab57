"""Type aliases shared across the simulator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

JSONObject: TypeAlias = dict[str, Any]
#: A unit of scheduled work: called with the simulated time it was due at.
Event: TypeAlias = Callable[[float], None]
