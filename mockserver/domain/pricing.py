"""What a task costs, in credits: the vendor's published table, by duration and quality.

The vendor bills Sora 2 Pro per second of video (evolink.ai/sora-2-pro, pricing table, read
2026-12): 17.28 credits a second at 720p, 28.80576 at 1080p. The create page's example
(`credits_reserved: 7`) is shared by every model's page and is not this model's price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .profiles import ConfigError
from .tasks import VideoRequest

#: (duration, quality) -> credits, as the vendor prints them
VENDOR_PRICES: Mapping[tuple[int, str], float] = {
    (4, "720p"): 69.12,
    (8, "720p"): 138.24,
    (12, "720p"): 207.36,
    (4, "1080p"): 115.22304,
    (8, "1080p"): 230.44608,
    (12, "1080p"): 345.66912,
}
VENDOR_SOURCE = "evolink.ai/sora-2-pro, pricing table (billed per second), read 2026-12"


@dataclass(frozen=True, slots=True)
class Pricing:
    """Credits by (duration, quality); a shape missing from the table is priced per second from
    the nearest listed duration of its quality."""

    table: Mapping[tuple[int, str], float] = field(default_factory=lambda: dict(VENDOR_PRICES))
    source: str = VENDOR_SOURCE

    def credits(self, request: VideoRequest) -> float:
        price = self.table.get((request.duration, request.quality))
        if price is not None:
            return price
        listed = [(d, p) for (d, q), p in self.table.items() if q == request.quality]
        if not listed:
            raise ValueError(f"pricing: no price for quality {request.quality!r}")
        duration, listed_price = min(listed, key=lambda item: abs(item[0] - request.duration))
        return round(listed_price / duration * request.duration, 5)

    def overridden(self, changes: Mapping[tuple[int, str], float], source: str) -> Pricing:
        """This table with some prices replaced (the `[pricing]` section of `--config`)."""
        return Pricing({**self.table, **changes}, source)


def pricing_from_dict(data: Mapping[str, Any], base: Pricing | None = None) -> Pricing:
    """Prices from a TOML table: `[pricing."720p"]` then `4 = 69.12`, ...; what is not given
    keeps the vendor's price. `source = "..."` says where the numbers come from."""
    base = base or Pricing()
    changes: dict[tuple[int, str], float] = {}
    for quality, prices in data.items():
        if quality == "source":
            continue
        if not isinstance(prices, dict):
            raise ConfigError(f"pricing.{quality}: expected a table of duration = credits")
        for duration, credits in prices.items():
            where = f"pricing.{quality}.{duration}"
            if not str(duration).isdigit() or int(duration) <= 0:
                raise ConfigError(f"{where}: a duration is whole seconds, like 4")
            if (
                isinstance(credits, bool)
                or not isinstance(credits, int | float)
                or not math.isfinite(credits)
                or credits < 0
            ):
                raise ConfigError(f"{where}: expected credits >= 0, got {credits!r}")
            changes[(int(duration), quality)] = float(credits)
    source = data.get("source", "the --config file's [pricing]")
    return base.overridden(changes, str(source))
