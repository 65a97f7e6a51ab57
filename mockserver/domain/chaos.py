"""Seeded chaos: a fraction of the vendor's requests get a failure drawn from a list of
scenarios, the way production sprinkles them, and the same ones again with the same seed.

`rate=0.05,scenarios=http:500|drop|latency:200-2000,seed=42` is the written form (`serve
--chaos`, a key's `chaos` in the `--config` file). Each API key draws from its own stream
(seeded from the seed and the key), so one key's requests fail the same way however other
keys' requests interleave with them."""

from __future__ import annotations

import random
from dataclasses import dataclass


class ChaosError(ValueError):
    """A chaos spec that cannot be used, saying why."""


@dataclass(frozen=True, slots=True)
class Chaos:
    #: The fraction of requests that fail, from 0 to 1.
    rate: float
    #: The scenario names a failing request draws from, evenly.
    scenarios: tuple[str, ...]
    #: Seeds every key's stream; None draws differently on each run. Apart from any seed the
    #: rest of the simulator has.
    seed: int | None = None

    def describe(self) -> str:
        seed = f",seed={self.seed}" if self.seed is not None else ""
        return f"rate={self.rate:g},scenarios={'|'.join(self.scenarios)}{seed}"


def parse_chaos(text: str) -> Chaos:
    """`rate=R,scenarios=A|B|...[,seed=N]`; ChaosError naming the bad part."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in ("rate", "scenarios", "seed") or name in fields:
            raise ChaosError(
                f"expected rate=R,scenarios=A|B[,seed=N], got {part.strip()!r} in {text!r}"
            )
        fields[name] = value.strip()
    if "rate" not in fields or "scenarios" not in fields:
        raise ChaosError(f"rate and scenarios are required: {text!r}")
    try:
        rate = float(fields["rate"])
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 1:
        raise ChaosError(f"rate must be a number from 0 to 1, got {fields['rate']!r}")
    scenarios = tuple(s.strip() for s in fields["scenarios"].split("|"))
    if not all(scenarios):
        raise ChaosError(f"scenarios must be names separated by |, got {fields['scenarios']!r}")
    seed = None
    if "seed" in fields:
        try:
            seed = int(fields["seed"])
        except ValueError:
            raise ChaosError(f"seed must be a whole number, got {fields['seed']!r}") from None
    return Chaos(rate, scenarios, seed)


class ChaosStreams:
    """One random stream per API key, for the requests of that key."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, Chaos], random.Random] = {}

    def stream(self, chaos: Chaos, key: str) -> random.Random:
        found = self._streams.get((key, chaos))
        if found is None:
            seed = None if chaos.seed is None else f"{chaos.seed}:{key}"
            found = self._streams[key, chaos] = random.Random(seed)
        return found

    def draw(self, chaos: Chaos, key: str) -> tuple[str, random.Random] | None:
        """The scenario this request of `key` gets, if any, and the stream (for a latency's
        length, drawn from it too)."""
        rng = self.stream(chaos, key)
        if rng.random() >= chaos.rate:
            return None
        return chaos.scenarios[rng.randrange(len(chaos.scenarios))], rng

    def reset(self) -> None:
        """Every stream starts again from its seed."""
        self._streams.clear()
