"""Timing profiles: plans drawn from data, a long tail, stalls, and runs that repeat by seed."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from mockserver import Settings, Simulator
from mockserver.cli.config import load_timings
from mockserver.cli.main import build_parser, settings_from
from mockserver.domain.profiles import ConfigError
from mockserver.domain.tasks import Plan, TaskStatus, VideoRequest
from mockserver.domain.timing import FAST, PROFILES, VENDOR, Spread, Timings

from ..bodies import create_body

REPO = Path(__file__).resolve().parents[2]


def request(duration: int = 4, quality: str = "720p") -> VideoRequest:
    return VideoRequest("sora-2-pro-preview", "a cat", "16:9", duration, quality)


def test_fast_is_the_first_releases_fixed_schedule() -> None:
    rng = random.Random(1)
    plans = {FAST.plan(request(4), 100.0, rng) for _ in range(20)}

    assert plans == {Plan(100.0, 105.0, 145.0, None)}
    assert FAST.plan(request(8, "1080p"), 0.0, rng).finished == 125.0


@pytest.mark.parametrize(
    ("duration", "quality", "low", "high"),
    [(4, "720p", 150, 215), (8, "720p", 200, 280), (12, "1080p", 300, 400)],
)
def test_vendor_medians_sit_in_the_vendors_3_to_5_minutes(
    duration: int, quality: str, low: float, high: float
) -> None:
    rng = random.Random(3)
    totals = sorted(VENDOR.plan(request(duration, quality), 0.0, rng).finished for _ in range(801))
    median = totals[400]

    assert low <= median <= high
    assert totals[-1] > 1.3 * median  # a long tail of slow tasks
    assert totals[0] > 0.5 * median  # and no absurdly quick ones


def test_vendor_plans_spread_and_some_stall() -> None:
    rng = random.Random(5)
    plans = [VENDOR.plan(request(), 0.0, rng) for _ in range(1000)]

    assert len({plan.finished for plan in plans}) == 1000
    stalled = [plan for plan in plans if plan.curve]
    assert 0.10 < len(stalled) / len(plans) < 0.20  # stall_chance 0.15
    plan = stalled[0]
    (paused, percent), (resumed, same) = plan.curve
    assert percent == same
    assert resumed > paused
    during = [plan.progress_at(t) for t in (paused + 0.01, (paused + resumed) / 2, resumed)]
    assert len(set(during)) == 1  # progress holds still through the stall
    assert plan.progress_at(resumed + 0.5 * (plan.finished - resumed)) > during[0]


def test_progress_along_a_curve_never_drops_and_ends_at_the_plan() -> None:
    plan = Plan(0.0, 10.0, 110.0, None, curve=((30.0, 20.0), (30.0, 50.0), (60.0, 50.0)))
    seen = [plan.progress_at(t / 4) for t in range(0, 481)]

    assert seen == sorted(seen)
    assert plan.progress_at(29.9) == 19
    assert plan.progress_at(30.0) == 50  # a jump
    assert plan.progress_at(45.0) == 50  # a stall
    assert plan.status_at(110.0) is TaskStatus.COMPLETED
    assert plan.estimated_time() == 110


def test_a_failure_on_a_curve_ends_where_progress_first_reaches_it() -> None:
    from mockserver.domain.tasks import Failure

    failure = Failure("service_error", "x", at_progress=50)
    plan = Plan(0.0, 10.0, 110.0, failure, curve=((30.0, 20.0), (40.0, 50.0), (80.0, 50.0)))

    assert plan.ended == 40.0
    assert plan.status_at(39.9) is TaskStatus.PROCESSING
    assert plan.status_at(40.0) is TaskStatus.FAILED


@pytest.mark.anyio
async def test_the_same_seed_and_requests_give_the_same_plans_and_ids() -> None:
    async def run(seed: int) -> list[tuple[str, Plan]]:
        sim = Simulator(Settings(clock="virtual", start_time=1_800_000_000, seed=seed))
        made = []
        for duration in (4, 8, 12, 4, 8):
            task = await sim.submit(
                create_body(prompt="a cat", duration=duration),
                api_key="sk-seed",
            )
            made.append((task.id, task.plan))
        sim.close()
        return made

    first, again, other = await run(7), await run(7), await run(8)

    assert first == again
    assert [plan for _, plan in first] != [plan for _, plan in other]
    assert {task_id for task_id, _ in first}.isdisjoint(task_id for task_id, _ in other)


def test_the_profile_states_its_quantiles_and_draws_match_them() -> None:
    rng = random.Random(11)
    shape = request(8, "1080p")
    quiet = Timings(
        name="no-stall",
        queue=VENDOR.queue,
        base_seconds=VENDOR.base_seconds,
        per_video_second=VENDOR.per_video_second,
        spread=VENDOR.spread,
    )
    totals = sorted(quiet.plan(shape, 0.0, rng).finished for _ in range(4000))
    stated = quiet.quantiles(shape, (0.5,))

    assert totals[2000] == pytest.approx(stated[0.5], rel=0.03)
    assert Spread(10.0, 0.5).quantile(0.5) == 10.0
    assert Spread(10.0, 0.5).quantile(0.9) > 10.0 * 1.8


def test_timings_come_by_name_or_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "slow.toml"
    path.write_text(
        'name = "slow"\nbase = "fast"\nqueue = {median = 30, sigma = 0.5}\n'
        'per_video_second = {"720p" = 40}\nstall_chance = 0.5\nstall = 60\n'
    )

    assert load_timings("vendor") is VENDOR
    assert load_timings("fast") is FAST
    slow = load_timings(str(path))
    assert (slow.name, slow.queue, slow.stall_chance, slow.stall) == (
        "slow",
        Spread(30.0, 0.5),
        0.5,
        Spread(60.0),
    )
    assert slow.per_video_second == {"720p": 40.0, "1080p": 15.0}  # the rest from `fast`
    assert set(PROFILES) == {"vendor", "fast"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quue = 3", "unknown field(s) quue"),
        ("queue = -1", "must be >= 0"),
        ('base = "turbo"', "expected one of vendor, fast"),
        ("stall_chance = 2", "stall_chance must be from 0 to 1"),
        ('per_video_second = {"720p" = "x"}', "expected a number"),
    ],
)
def test_a_bad_timings_file_is_named_with_its_place(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_timings(str(path))


def test_serve_takes_timings_seed_and_the_config_sections(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text(
        '[timings]\nbase = "fast"\nqueue = 1\n\n'
        '[pricing]\nsource = "ours"\n\n[pricing."720p"]\n4 = 50\n'
    )
    parser = build_parser()

    default = settings_from(parser.parse_args(["serve"]))
    chosen = settings_from(parser.parse_args(["serve", "--timings", "fast", "--seed", "7"]))
    from_config = settings_from(parser.parse_args(["serve", "--config", str(config)]))
    both = settings_from(
        parser.parse_args(["serve", "--config", str(config), "--timings", "vendor"])
    )

    assert (default.timings, default.seed) == (VENDOR, None)
    assert (chosen.timings, chosen.seed) == (FAST, 7)
    assert from_config.timings.queue == Spread(1.0)
    assert from_config.pricing is not None
    priced = from_config.models.priced(from_config.pricing)["sora-2-pro-preview"]
    assert priced.credits(request(4)) == 50.0
    assert priced.credits(request(8)) == 138.24  # the rest stays the vendor's
    assert both.timings is VENDOR  # the flag wins over the file
    assert from_config.pricing.source == "ours"


@pytest.mark.processes
def test_an_unknown_timings_name_stops_serve_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mockserver.cli.main", "serve", "--timings", "turbo"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "evolink-mock: error: --timings 'turbo': not a profile (vendor, fast) nor a TOML file"
    ]
