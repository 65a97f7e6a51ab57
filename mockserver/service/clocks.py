"""Which clock a simulator runs on: the one its store kept from an earlier run, else a new one
as the settings ask."""

from __future__ import annotations

import logging
import time

from ..domain.clock import Clock, RealClock, VirtualClock
from ..settings import Settings
from ..storage.base import ClockState

log = logging.getLogger("mockserver.store")


def make_clock(settings: Settings) -> Clock:
    if settings.clock == "virtual":
        return VirtualClock(settings.start_time)
    return RealClock(settings.speed, settings.start_time)


def continued(stored: ClockState, settings: Settings, where: str) -> Clock:
    """The stored clock, continued: a virtual clock where it stood, a real one where its anchor
    says simulated time has got to by now (never before the anchor, should the wall clock have
    gone back). Settings that ask otherwise lose, with a warning: they shape a new store only."""
    kind, speed, wall, sim = stored
    clock: Clock
    if kind == "virtual":
        clock = VirtualClock(sim)
        described = "virtual clock"
    else:
        assert speed is not None
        clock = RealClock(speed, max(sim, sim + (time.time() - wall) * speed))
        described = f"real clock x{speed:g}"
    asked = []
    if settings.clock != kind or (kind == "real" and settings.speed != speed):
        asked.append(
            "virtual clock" if settings.clock == "virtual" else f"real clock x{settings.speed:g}"
        )
    if settings.start_time is not None:
        asked.append(f"start time {settings.start_time:.3f}")
    if asked:
        log.warning(
            "%s: continuing its stored %s at %.3f; the %s asked for applies to a new database only",
            where,
            described,
            clock.now(),
            " and ".join(asked),
        )
    return clock
