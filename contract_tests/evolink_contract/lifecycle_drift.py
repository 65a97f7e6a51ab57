"""`evolink-contract drift --allow-paid-creates`: one cheapest real task (4 s, 720p, the drift
canary's create), followed to its end on the server and on the in-process simulator, compared
field by field: statuses in order, progress never dropping, results, usage, the answer's fields,
and its duration against the simulator's stated quantiles."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

#: Waits about `seconds` on a side's clock; returns how many seconds passed there.
Waiter = Callable[[float], Awaitable[float]]
NAME = "paid lifecycle (4 s, 720p)"
#: the simulator's duration range a live task must fall in
QUANTILES = (0.05, 0.95)
TERMINAL = ("completed", "failed")


@dataclass(slots=True)
class Followed:
    """What one side showed of its task, from the create to its end."""

    statuses: list[str] = field(default_factory=list)
    progress: list[int] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def values(self) -> dict[str, str]:
        statuses: list[str] = []
        for status in self.statuses:
            if not statuses or statuses[-1] != status:
                statuses.append(status)
        drops = [i for i, (a, b) in enumerate(itertools.pairwise(self.progress)) if b < a]
        usage = self.final.get("usage") or {}
        results = self.final.get("results")
        return {
            "statuses": " -> ".join(statuses),
            "progress never drops": "yes" if not drops else f"dropped after answer {drops[0]}",
            "results": f"{len(results)} link(s)" if isinstance(results, list) else "none",
            "usage": ", ".join(f"{k}={usage[k]}" for k in sorted(usage) if k != "user_group"),
            "fields": ",".join(sorted(self.final)),
        }


async def real_wait(seconds: float) -> float:
    started = time.monotonic()
    await asyncio.sleep(seconds)
    return time.monotonic() - started


async def follow(
    client: httpx.AsyncClient,
    key: str,
    body: bytes,
    wait: Waiter,
    *,
    poll: float,
    timeout: float,
) -> Followed:
    """Create one task and poll it every `poll` seconds until it ends (or `timeout` passes)."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    seen = Followed()
    created = await client.post("/v1/videos/generations", content=body, headers=headers)
    answer = created.json()
    if created.status_code != 200:
        seen.statuses.append(f"HTTP {created.status_code}")
        seen.final = answer if isinstance(answer, dict) else {}
        return seen
    task_id = answer["id"]
    for _ in range(max(1, math.ceil(timeout / poll)) + 1):
        seen.statuses.append(answer["status"])
        seen.progress.append(int(answer.get("progress") or 0))
        seen.final = answer
        if answer["status"] in TERMINAL:
            break
        seen.seconds += await wait(poll)
        answer = (await client.get(f"/v1/tasks/{task_id}", headers=headers)).json()
    return seen


@dataclass(slots=True)
class LifecycleRow:
    upstream: dict[str, str]
    simulator: dict[str, str]
    differences: list[str]

    def lines(self) -> list[tuple[str, str, str, str]]:
        return [(NAME, f, self.upstream[f], self.simulator[f]) for f in self.differences]

    def to_json(self) -> dict[str, Any]:
        return {
            "probe": NAME,
            "upstream": self.upstream,
            "simulator": self.simulator,
            "differences": self.differences,
        }


def compare(theirs: Followed, ours: Followed, stated: dict[float, float]) -> LifecycleRow:
    """The two lifecycles side by side; the server's duration is held to the simulator's
    stated range rather than to one draw of it."""
    up, sim = theirs.values(), ours.values()
    low, high = stated[QUANTILES[0]], stated[QUANTILES[-1]]
    up["seconds to the end"] = f"{theirs.seconds:.0f}"
    sim["seconds to the end"] = f"{low:.0f}-{high:.0f} ({QUANTILES[0]:.0%}-{QUANTILES[-1]:.0%})"
    differences = [name for name in up if name != "seconds to the end" and up[name] != sim[name]]
    if not low <= theirs.seconds <= high:
        differences.append("seconds to the end")
    return LifecycleRow(up, sim, differences)
