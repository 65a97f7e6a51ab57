"""What a task costs, in credits: a model's price table, by duration and quality.

The tables are data: each model's `[prices]` in its data file (`openapi/models/<model>.toml`,
read by `mockserver.domain.models`), where the source of the numbers is written beside them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .profiles import ConfigError
from .tasks import VideoRequest


@dataclass(frozen=True, slots=True)
class Pricing:
    """Credits by (duration, quality); a shape missing from the table is priced per second from
    the nearest listed duration of its quality."""

    table: Mapping[tuple[int, str], float] = field(default_factory=dict)
    source: str = ""
    #: The model whose table this changes (`[pricing]` of `--config`); None: the first served.
    model: str | None = None

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
        return Pricing({**self.table, **changes}, source, self.model)


def pricing_from_dict(
    data: Mapping[str, Any], base: Pricing | None = None, *, where: str = "pricing"
) -> Pricing:
    """Prices from a TOML table: `["720p"]` then `4 = 69.12`, ...; what is not given keeps
    `base`'s price. `source = "..."` says where the numbers come from; in `--config`,
    `model = "..."` names the model whose table it changes (by default the first served)."""
    base = base or Pricing()
    changes: dict[tuple[int, str], float] = {}
    for quality, prices in data.items():
        if quality in ("source", "model"):
            continue
        if not isinstance(prices, dict):
            raise ConfigError(f'{where}."{quality}": expected a table of duration = credits')
        for duration, credits in prices.items():
            at = f'{where}."{quality}".{duration}'
            if not str(duration).isdigit() or int(duration) <= 0:
                raise ConfigError(f"{at}: a duration is whole seconds, like 4")
            if (
                isinstance(credits, bool)
                or not isinstance(credits, int | float)
                or not math.isfinite(credits)
                or credits < 0
            ):
                raise ConfigError(f"{at}: expected credits >= 0, got {credits!r}")
            changes[(int(duration), quality)] = float(credits)
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise ConfigError(f"{where}.model: expected a model name")
    source = str(data.get("source", f"the --config file's [{where}]"))
    return Pricing({**base.table, **changes}, source, model)
