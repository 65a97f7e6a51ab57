"""How long a task takes: timing profiles, and the plan one draws for a task.

A profile says how long a task waits in the queue, how many seconds of processing each second
of video takes at each quality, how widely that spreads (a log-normal multiplier: a long tail of
slow tasks, no negative times), and how often progress stalls on the way. Two profiles ship:

- `vendor` (the default): totals in the vendor's 3 to 5 minutes for the common cases. Every
  video page of the vendor shows `estimated_time: 300`, and its own clients tell users a video
  takes about 3-5 minutes and poll every 8-15 s (evolink-media-mcp, docs.evolink.ai; read
  2026-12). The medians: 4 s at 720p about 3 minutes, 8 s about 4, 12 s about 5; at 1080p
  about 3.3, 4.5 and 5.6; one task in seven pauses part-way, as real renders do.
- `fast`: the first release's fixed schedule, 5 s queued then 10 s per second of video (15 s at
  1080p), no spread: for tests that want round numbers.

A plan is drawn once, when the task is created, from the simulator's random generator (seeded
with `--seed` for runs that repeat exactly); `task_info.estimated_time` is that plan's total.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any

from .profiles import ConfigError
from .tasks import Failure, Knot, Plan, VideoRequest


@dataclass(frozen=True, slots=True)
class Spread:
    """A log-normal amount: `median` seconds (or a factor), `sigma` the spread of its log (0:
    always the median). About 1 draw in 6 is over median * e^sigma, 1 in 40 over e^(2 sigma)."""

    median: float
    sigma: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.sigma == 0:
            return self.median
        return self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0))

    def quantile(self, q: float) -> float:
        """The amount below which a fraction `q` of draws falls."""
        if self.sigma == 0:
            return self.median
        return self.median * math.exp(self.sigma * NormalDist().inv_cdf(q))


@dataclass(frozen=True, slots=True)
class Timings:
    """A timing profile: see the module's description."""

    name: str = "custom"
    #: seconds in the queue (pending)
    queue: Spread = field(default_factory=lambda: Spread(5.0))
    #: processing seconds that every task takes, whatever its length
    base_seconds: float = 0.0
    #: processing seconds per second of video, by quality
    per_video_second: Mapping[str, float] = field(
        default_factory=lambda: {"720p": 10.0, "1080p": 15.0}
    )
    #: the log-normal spread of the processing time (a factor around 1)
    spread: float = 0.0
    #: the chance that progress stalls once on the way, and for how long
    stall_chance: float = 0.0
    stall: Spread = field(default_factory=lambda: Spread(0.0))
    #: where the numbers come from
    source: str = ""
    #: the factor `spread` puts on the median processing time: made once, drawn per task
    _factor: Spread = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.queue.median < 0 or self.base_seconds < 0 or self.stall.median < 0:
            raise ValueError("timings: seconds must be >= 0")
        if any(v < 0 for v in self.per_video_second.values()):
            raise ValueError("timings: per_video_second must be >= 0")
        if not 0 <= self.stall_chance <= 1:
            raise ValueError("timings: stall_chance must be from 0 to 1")
        if self.spread < 0 or self.queue.sigma < 0 or self.stall.sigma < 0:
            raise ValueError("timings: a spread must be >= 0")
        object.__setattr__(self, "_factor", Spread(1.0, self.spread))

    def median_processing(
        self, request: VideoRequest, scale: float = 1.0, quality: str | None = None
    ) -> float:
        """The processing seconds of the median task of this shape (no stall): a model's
        `[timing]` scales it (`scale`) and may take another quality's row (`quality`)."""
        row = quality or request.quality
        per_second = self.per_video_second.get(row)
        if per_second is None:
            raise ValueError(f"timings {self.name!r}: no per_video_second for {row}")
        return (self.base_seconds + per_second * request.duration) * scale

    def plan(
        self,
        request: VideoRequest,
        now: float,
        rng: random.Random,
        failure: Failure | None = None,
        *,
        scale: float = 1.0,
        quality: str | None = None,
    ) -> Plan:
        """The plan of a task created at `now`; a failure ends it early. `scale` and `quality`
        are its model's (`ModelProfile.timing_scale`, `timing_quality`)."""
        started = now + self.queue.draw(rng)
        processing = self.median_processing(request, scale, quality) * self._factor.draw(rng)
        curve: tuple[Knot, ...] = ()
        if self.stall_chance and rng.random() < self.stall_chance:
            pause = self.stall.draw(rng)
            at = rng.uniform(0.2, 0.8)  # somewhere in the middle of the render
            paused = started + processing * at
            percent = 100.0 * at
            curve = ((paused, percent), (paused + pause, percent))
            processing += pause
        return Plan(now, started, started + processing, failure, curve=curve)

    def quantiles(self, request: VideoRequest, qs: tuple[float, ...]) -> dict[float, float]:
        """What the profile states for a task of this shape, without stalls: total seconds at
        each quantile, taking the queue and the processing at the same quantile (their sum's
        own quantiles are a little closer together)."""
        processing = self.median_processing(request)
        return {q: self.queue.quantile(q) + processing * self._factor.quantile(q) for q in qs}


FAST = Timings(
    name="fast",
    queue=Spread(5.0),
    per_video_second={"720p": 10.0, "1080p": 15.0},
    source="the first release's schedule: 5 s queued, 10 s per video second (15 s at 1080p)",
)

VENDOR = Timings(
    name="vendor",
    queue=Spread(8.0, 0.6),
    base_seconds=120.0,
    per_video_second={"720p": 13.0, "1080p": 17.5},
    spread=0.2,
    stall_chance=0.15,
    stall=Spread(20.0, 0.5),
    source=(
        "docs.evolink.ai video pages (estimated_time: 300) and the vendor's own clients "
        "(about 3-5 minutes a video, polled every 8-15 s), read 2026-12"
    ),
)

PROFILES: dict[str, Timings] = {profile.name: profile for profile in (VENDOR, FAST)}


def _seconds(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{where}: must be >= 0, got {value!r}")
    return float(value)


def _spread(where: str, value: Any) -> Spread:
    """A number (always that), or a table {median, sigma}."""
    if isinstance(value, dict):
        unknown = set(value) - {"median", "sigma"}
        if unknown or "median" not in value:
            raise ConfigError(f"{where}: expected a number or a table with median (and sigma)")
        return Spread(
            _seconds(f"{where}.median", value["median"]),
            _seconds(f"{where}.sigma", value.get("sigma", 0.0)),
        )
    return Spread(_seconds(where, value))


_TIMING_FIELDS = (
    "name",
    "base",
    "queue",
    "base_seconds",
    "per_video_second",
    "spread",
    "stall_chance",
    "stall",
    "source",
)


def timings_from_dict(data: Mapping[str, Any], where: str = "timings") -> Timings:
    """A profile from a TOML table: `base = "vendor"` (or "fast") to start from a shipped one,
    then any of queue, base_seconds, per_video_second, spread, stall_chance, stall, source."""
    unknown = set(data) - set(_TIMING_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(_TIMING_FIELDS)}"
        )
    base_name = data.get("base", "vendor")
    base = PROFILES.get(base_name) if isinstance(base_name, str) else None
    if base is None:
        raise ConfigError(f"{where}.base: expected one of {', '.join(PROFILES)}")
    changes: dict[str, Any] = {"name": str(data.get("name", "custom"))}
    if "queue" in data:
        changes["queue"] = _spread(f"{where}.queue", data["queue"])
    if "stall" in data:
        changes["stall"] = _spread(f"{where}.stall", data["stall"])
    for name in ("base_seconds", "spread", "stall_chance"):
        if name in data:
            changes[name] = _seconds(f"{where}.{name}", data[name])
    if "per_video_second" in data:
        table = data["per_video_second"]
        if not isinstance(table, dict):
            raise ConfigError(f'{where}.per_video_second: expected a table like {{"720p" = 13}}')
        changes["per_video_second"] = {
            **base.per_video_second,
            **{q: _seconds(f"{where}.per_video_second.{q}", s) for q, s in table.items()},
        }
    if "source" in data:
        changes["source"] = str(data["source"])
    try:
        return replace(base, **changes)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
