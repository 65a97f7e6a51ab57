"""The Redis store's callback deliveries: saved by the process that sends each, taken over
from a process whose lease lapsed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ...domain.deliveries import Delivery, Outcome
from ...domain.tasks import Task
from ..base import NOTHING_TAKEN, TakenOver
from ..records import delivery_from, delivery_record, dumps, loads
from .core import Connected, on_io, task_from_text


class Deliveries(Connected):
    """The delivery methods of `RedisStore`."""

    @on_io
    async def save_delivery(self, delivery: Delivery) -> bool:
        end = delivery.trigger == "end"
        saved = await self._run(
            "save_delivery",
            owners=self._key("owner"),
            handled=self._key("handled"),
            end_owner=self._key("end_owner"),
            procs=self._key("procs"),
            deliveries=self._key("deliveries"),
            delivery=self._key("delivery", delivery.webhook_id),
            pending=self._key("pending", self.token),
            alive=self._alive,
            prefix=self.prefix,
            token=self.token,
            lease_ms=self._lease_ms,
            webhook_id=delivery.webhook_id,
            record=dumps(delivery_record(delivery)),
            still_pending="1" if delivery.outcome is Outcome.PENDING else "",
            task=delivery.task.id if end else "",
            limit=self.delivery_limit,
        )
        return bool(saved)

    @on_io
    async def take_over(self) -> TakenOver:
        # only once every live process has had a lease's length to renew its own: after this
        # store opened, and after Redis came back (its leases may have lapsed meanwhile)
        adopt = time.monotonic() - self._clients.calm_since >= self.lease
        rows, ends = await self._run(
            "take_over",
            alive=self._alive,
            procs=self._key("procs"),
            owners=self._key("owner"),
            pending=self._key("pending", self.token),
            handled=self._key("handled"),
            end_owner=self._key("end_owner"),
            ends=self._key("ends", self.token),
            prefix=self.prefix,
            root=self.root,
            token=self.token,
            lease_ms=self._lease_ms,
            adopt="1" if adopt else "",
        )
        if not rows and not ends:
            return NOTHING_TAKEN
        ids = list({json.loads(row)["task_id"] for row in rows} | set(ends))
        kept = await self._redis.mget([self._key("task", i) for i in ids])
        known = {i: task_from_text(t) for i, t in zip(ids, kept, strict=True) if t}
        return TakenOver(
            self._decode_deliveries(rows, known.get), [known[i] for i in ends if i in known]
        )

    @staticmethod
    def _decode_deliveries(
        rows: list[str | None], task: Callable[[str], Task | None]
    ) -> list[Delivery]:
        found = (delivery_from(loads(row), task) for row in rows if row is not None)
        return [delivery for delivery in found if delivery is not None]

    @on_io
    async def deliveries(self, task_id: str | None = None) -> list[Delivery]:
        every = await self._deliveries(await self._tasks())
        return [d for d in every if task_id is None or d.task.id == task_id]

    async def _deliveries(self, tasks: list[Task]) -> list[Delivery]:
        client = self._redis
        ids: list[str] = await client.lrange(self._key("deliveries"), 0, -1)
        if not ids:
            return []
        rows = await client.mget([self._key("delivery", w) for w in ids])
        return self._decode_deliveries(rows, {task.id: task for task in tasks}.get)
