"""How long a task takes: its plan, laid out on the simulated clock."""

from __future__ import annotations

from dataclasses import dataclass

from .tasks import Failure, Plan, VideoRequest


@dataclass(frozen=True, slots=True)
class Timings:
    """How long a task spends in each phase, in simulated seconds."""

    queue_seconds: float = 5.0
    seconds_per_video_second: float = 10.0
    hd_multiplier: float = 1.5

    def processing_seconds(self, request: VideoRequest) -> float:
        factor = self.hd_multiplier if request.quality == "1080p" else 1.0
        return self.seconds_per_video_second * request.duration * factor

    def plan(self, request: VideoRequest, now: float, failure: Failure | None = None) -> Plan:
        """The plan of a task created at `now`; a failure ends it early."""
        started = now + self.queue_seconds
        return Plan(now, started, started + self.processing_seconds(request), failure)
