"""What a task costs, in credits."""

from __future__ import annotations

from dataclasses import dataclass, field

from .tasks import VideoRequest


@dataclass(frozen=True, slots=True)
class Pricing:
    """Credits per second of video (billing rule `per_second`); 1080p costs 1.667x (vendor)."""

    credits_per_second: float = 1.75
    hd_multiplier: float = 1.667
    #: (duration, quality) -> credits; a request comes in a few shapes only
    _known: dict[tuple[int, str], float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def credits(self, request: VideoRequest) -> float:
        shape = (request.duration, request.quality)
        price = self._known.get(shape)
        if price is None:
            factor = self.hd_multiplier if request.quality == "1080p" else 1.0
            price = round(self.credits_per_second * request.duration * factor, 3)
            if len(self._known) < 256:
                self._known[shape] = price
        return price
