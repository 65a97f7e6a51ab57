"""How long tasks take under a timing profile: quantiles of 1,000 drawn plans beside the
profile's stated ones.

Each shape (duration x quality) gets `--plans` plans from the profile, drawn with one seeded
generator as the simulator draws them; the table shows the drawn total seconds (create to
completion) at each quantile, then what the profile states for that quantile without stalls,
then the share of plans that stalled.

    python bench/timing_quantiles.py                       # the vendor profile, seed 7
    python bench/timing_quantiles.py --timings fast
    python bench/timing_quantiles.py --timings my-profile.toml --seed 1
"""

from __future__ import annotations

import argparse
import random

from mockserver.cli.config import load_timings
from mockserver.domain.tasks import VideoRequest

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
SHAPES = [(d, q) for q in ("720p", "1080p") for d in (4, 8, 12)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timings", default="vendor", help="a profile name or TOML file")
    parser.add_argument("--plans", type=int, default=1000, help="plans per shape (default 1000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    timings = load_timings(args.timings)
    rng = random.Random(args.seed)
    print(f"profile {timings.name!r}: {timings.source or 'no source given'}")
    print(f"{args.plans} plans per shape, seed {args.seed}; seconds from create to completion\n")
    header = " ".join(f"p{round(q * 100):<6}" for q in QUANTILES)
    print(f"{'shape':<11} {'':<7} {header} stalled")
    for duration, quality in SHAPES:
        shape = VideoRequest("sora-2-pro-preview", "a cat", "16:9", duration, quality)
        plans = [timings.plan(shape, 0.0, rng) for _ in range(args.plans)]
        totals = sorted(plan.finished for plan in plans)
        drawn = [totals[min(len(totals) - 1, int(q * len(totals)))] for q in QUANTILES]
        stated = timings.quantiles(shape, QUANTILES)
        stalled = sum(1 for plan in plans if plan.curve) / len(plans)
        label = f"{duration}s {quality}"
        print(
            f"{label:<11} {'drawn':<7} " + " ".join(f"{v:<7.0f}" for v in drawn) + f" {stalled:.0%}"
        )
        print(f"{'':<11} {'stated':<7} " + " ".join(f"{stated[q]:<7.0f}" for q in QUANTILES))


if __name__ == "__main__":
    main()
