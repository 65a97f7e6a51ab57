"""Draw docs/images/task-life.png: one task's life and its callback's retries, on the clock.

Nothing here is drawn by hand: the task is created on the simulator itself (in this process, on
its virtual clock, with the vendor timing and a fixed seed), its progress is what its queries
answer second by second, and the callback attempts are what `GET /_mock/callbacks` says the
simulator sent to a receiver scripted to fail three times (500, no answer, 503) and then take
it (200).

    .venv/bin/python scripts/docs_figure.py [OUT.png]     # the `docs` extra: matplotlib

`scripts/docs-images.sh` runs it beside the dashboard's screenshot.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx

from mockserver import Settings, create_app
from mockserver.testing.receiver import Receiver
from mockserver.testing.server import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images" / "task-life.png"
SEED = 1  # a plan with the stall about one task in seven gets (22 s of it)
START = 1_800_000_000.0
SCRIPT: list[Any] = [500, "timeout", 503, 200]
KEY = {"Authorization": "Bearer sk-figure"}


def observe() -> tuple[list[tuple[float, str, int]], dict[str, Any]]:
    """The task's (seconds since create, status, progress) each second, and its delivery."""
    with Receiver(SCRIPT) as receiver:
        settings = Settings(
            clock="virtual",
            start_time=START,
            seed=SEED,
            callback_allow=frozenset({receiver.authority}),
            callback_allow_http=True,
            callback_timeout=0.5,  # real seconds: the unanswered attempt counts 10 simulated
        )
        with (
            serve_in_thread(create_app(settings)) as url,
            httpx.Client(base_url=url, headers=KEY) as api,
        ):
            body = {
                "model": "sora-2-pro-preview",
                "prompt": "A cat playing piano",
                "duration": 8,
                "callback_url": receiver.url("/hook"),
            }
            task = api.post("/v1/videos/generations", json=body).raise_for_status().json()
            samples = [(0.0, task["status"], task["progress"])]
            elapsed = 0.0
            while task["status"] not in ("completed", "failed") or elapsed < task["duration"] + 30:
                api.post("/_mock/clock/advance", json={"seconds": 1}).raise_for_status()
                elapsed += 1
                task = api.get(f"/v1/tasks/{task['id']}").raise_for_status().json()
                samples.append((elapsed, task["status"], task["progress"]))
                if elapsed > 3600:  # pragma: no cover - a plan never runs this long
                    raise RuntimeError("the task did not end within an hour")
            (delivery,) = api.get("/_mock/callbacks", params={"task_id": task["id"]}).json()
    return samples, delivery


def draw(samples: list[tuple[float, str, int]], delivery: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"pending": "#9e9e9e", "processing": "#1e88e5", "completed": "#43a047"}
    fig, (life, hooks) = plt.subplots(
        2, 1, figsize=(9, 5.2), gridspec_kw={"height_ratios": [3, 1.3]}, constrained_layout=True
    )
    times = [t for t, _, _ in samples]
    life.plot(times, [p for _, _, p in samples], color="#263238", lw=1.6, drawstyle="steps-post")
    for status, colour in colours.items():
        spans = [t for t, s, _ in samples if s == status]
        if spans:  # the status the query answered, as a band, named in the legend
            life.axvspan(min(spans), max(spans) + 1, color=colour, alpha=0.25, lw=0, label=status)
    life.legend(loc="upper left", title="status", fontsize=9)
    life.set_ylim(0, 105)
    life.set_xlim(0, times[-1])
    life.set_ylabel("progress (%)")
    life.set_title(f"One task on the vendor timing (sora-2-pro-preview, 8 s, 720p, --seed {SEED})")

    ended = next(t for t, s, _ in samples if s in ("completed", "failed"))
    base = START  # attempt times are the simulator's clock
    first = delivery["attempts"][0]["scheduled_at"] - base
    for attempt in delivery["attempts"]:
        sent = attempt["sent_at"] - base
        took = attempt["duration"] or 0.0
        answer = attempt["status_code"] or attempt["error"] or "?"
        ok = isinstance(answer, int) and 200 <= answer < 300
        hooks.barh(0, max(took, 0.15), left=sent, height=0.5, color="#43a047" if ok else "#e53935")
        label = f"#{attempt['attempt']}: {answer if isinstance(answer, int) else 'no answer'}"
        hooks.annotate(label, (sent, 0.3), fontsize=8, rotation=30, ha="left", va="bottom")
        if attempt["next_retry_at"] is not None:
            retry = attempt["next_retry_at"] - base
            hooks.annotate(
                "",
                xy=(retry, -0.3),
                xytext=(sent + took, -0.3),
                arrowprops={"arrowstyle": "->", "color": "#616161"},
            )
            hooks.text(
                (sent + took + retry) / 2,
                -0.55,
                f"+{retry - sent - took:g} s",
                ha="center",
                va="top",
                fontsize=8,
                color="#616161",
            )
    hooks.set_xlim(first - 1, delivery["attempts"][-1]["sent_at"] - base + 3)
    hooks.set_ylim(-1, 1.4)
    hooks.set_yticks([])
    hooks.set_xlabel("seconds since the create (simulated)")
    hooks.set_title(
        f"its callback from {ended:g} s: retried 1, 2 and 4 s after each failed attempt",
        fontsize=10,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    samples, delivery = observe()
    draw(samples, delivery, out)
    print(f"{out}: {len(samples)} samples, {len(delivery['attempts'])} callback attempts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
