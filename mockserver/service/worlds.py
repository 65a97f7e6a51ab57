"""Isolated keys: with `Settings.isolate_keys`, each API key is a world of its own, a
`Simulator` with its own clock, faults, journal, callbacks, accounts and store, made the first
time the key is seen. Without it there is one world, the app's simulator, and everything below
reads as before.

Admin operations address one world (`key`) or all of them (None: reset every world, advance
every clock, list what each holds). Each world's store comes from `store_for(key)`: a memory
store by default; a store shared by processes would namespace each world by a key prefix there.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ..domain.clock import VirtualClock
from ..domain.deliveries import Delivery
from ..domain.errors import InvalidRequest, NotFound, StoreOutage, Unauthorized
from ..domain.faults import Fault
from ..domain.files import StoredFile
from ..domain.journal import Entry, EntryFilter
from ..domain.limits import AccountView
from ..domain.tasks import Task
from ..storage.base import Store
from ..storage.memory import MemoryStore
from .metrics import MetricsSnapshot
from .simulator import Simulator

log = logging.getLogger("mockserver.worlds")

#: The most worlds one server keeps: each holds a clock, a scheduler and a store; past it the
#: least recently used is forgotten.
MAX_WORLDS = 10_000
#: Seconds between renewals of this process's lease on a shared store (which lasts
#: `RedisStore.lease`, 5 s by default: several renewals may be missed before it lapses).
LEASE_EVERY = 1.0

StoreFactory = Callable[[str], Store]
T = TypeVar("T")


def memory_store_for(key: str) -> Store:
    return MemoryStore()


def store_factory(base: Store) -> StoreFactory:
    """Each world's store: on a shared store (Redis), the same connection under a prefix of
    the world's own; otherwise a memory store (`Store.with_prefix`)."""
    # the key itself is not written into a store's names: a digest of it is
    return lambda key: base.with_prefix(
        f"{base.prefix}:world:{hashlib.sha256(key.encode()).hexdigest()[:24]}"
    )


class Worlds:
    def __init__(
        self,
        default: Simulator,
        store_for: StoreFactory = memory_store_for,
        *,
        max_worlds: int = MAX_WORLDS,
    ) -> None:
        #: The app's simulator: the only world without isolation; with it, the world of
        #: requests whose key is refused (they get their 401 there).
        self.default = default
        self.isolated = default.settings.isolate_keys
        self.store_for = store_for
        self._worlds: OrderedDict[str, Simulator] = OrderedDict()
        self._started = False
        #: the worlds opened and started
        self._running: set[Simulator] = set()
        self.max_worlds = max_worlds
        self._closing: set[asyncio.Task[None]] = set()
        #: on a shared store: the lease's renewal, and following the shared virtual clock
        self._background: list[asyncio.Task[None]] = []

    # -- finding a world ------------------------------------------------------------------------

    def for_authorization(self, authorization: str | None) -> Simulator:
        """The world of a vendor request: its key's, or the default for a refused key."""
        if not self.isolated:
            return self.default
        try:
            key = self.default.admission.authenticate(authorization)
        except Unauthorized:
            return self.default
        return self.world(key)

    def world(self, key: str) -> Simulator:
        found = self._worlds.get(key)
        if found is not None:
            self._worlds.move_to_end(key)  # the least recently used world is evicted first
            return found
        if len(self._worlds) >= self.max_worlds:
            self._evict(next(iter(self._worlds)))
        base = self.default
        found = Simulator(base.settings, store=self.store_for(key), spec=base.spec)
        self._worlds[key] = found
        return found

    async def enter(self, authorization: str | None) -> Simulator:
        """The world of a vendor request, opened (and started, once the app has) before the
        request runs in it."""
        sim = self.for_authorization(authorization)
        await self._ready([sim])
        return sim

    async def _ready(self, worlds: list[Simulator]) -> list[Simulator]:
        for sim in worlds:
            if sim not in self._running:
                await sim.open()
                if self._started:
                    sim.start()
                    self._running.add(sim)
        return worlds

    @property
    def ready(self) -> bool:
        """Whether every request goes to the default world, opened: nothing to do first."""
        return not self.isolated and self.default.opened

    def _evict(self, key: str) -> None:
        """Forget a world to make room (a long-lived shared server sees a new key per test
        run): its timers stop and its store closes."""
        sim = self._worlds.pop(key)
        self._running.discard(sim)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            sim.close()
            return
        closing = loop.create_task(sim.aclose())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def chosen(self, key: str | None) -> list[Simulator]:
        """The worlds an admin call acts on (opened): `key`'s (`?api_key=`), or every one."""
        return await self._ready(self._chosen(key))

    def _chosen(self, key: str | None) -> list[Simulator]:
        if not self.isolated:
            return [self.default]
        if key is not None:
            try:
                self.default.admission.authenticate(f"Bearer {key}")
            except Unauthorized:
                raise InvalidRequest(
                    "api_key is not a key this server accepts", param="api_key"
                ) from None
            return [self.world(key)]
        return [self.default, *self._worlds.values()]

    def all(self) -> list[Simulator]:
        return [self.default, *self._worlds.values()]

    # -- running --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open each world's store, and run what fell due while the server was down; on a
        shared store, from now on hold this process's lease and take over what processes that
        died left (`keep_leases`), and follow the shared virtual clock (`follow_clock`)."""
        self._started = True
        await self._ready(self.all())
        if self.default.store.shared:
            loop = asyncio.get_running_loop()
            self._background = [loop.create_task(self.keep_leases())]
            if isinstance(self.default.clock, VirtualClock):
                self._background.append(loop.create_task(self.follow_clock()))

    async def keep_leases(self) -> None:
        """Every LEASE_EVERY seconds: each world renews the lease and takes over what a dead
        process left (a Redis outage only delays it)."""
        await self._every_round(Simulator.take_over, "taking over callback deliveries")

    async def follow_clock(self) -> None:
        """Every LEASE_EVERY seconds: each world's virtual clock moves to where another process
        moved the shared one, so that what falls due here (its tasks' ends, their callbacks)
        runs though no request comes. A task of its own: catching up waits for the callbacks
        it sends, which must not hold up the lease's renewal."""
        await self._every_round(Simulator.catch_up, "following the shared clock")

    async def _every_round(self, step: Callable[[Simulator], Awaitable[object]], what: str) -> None:
        while True:
            for sim in self.all():
                try:
                    await step(sim)
                except StoreOutage:
                    break  # logged by the calls that fail: try again on the next round
                except Exception:  # a bug must not stop the rounds: say so and go on
                    log.exception("%s failed", what)
            await asyncio.sleep(LEASE_EVERY)

    async def aclose(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sim in self.all():
            await sim.aclose()
        for closing in list(self._closing):  # worlds evicted a moment ago
            await closing

    # -- admin operations, on one world or all ----------------------------------------------------

    async def health(self) -> dict[str, Any]:
        body = await self.default.health()
        if self.isolated:
            body["tasks"] = sum([await sim.store.count_tasks() for sim in self.all()])
            body["worlds"] = len(self._worlds)
        return body

    async def clock_json(self, key: str | None) -> dict[str, Any]:
        """The chosen world's clock (caught up with other processes on a shared store)."""
        sim = (await self.chosen(key))[0]
        await sim.catch_up()
        return sim.clock_json()

    async def advance(self, seconds: float, key: str | None) -> dict[str, Any]:
        """Move the chosen worlds' clocks; the first one's clock, after."""
        worlds = await self.chosen(key)
        for sim in worlds:
            await sim.advance(seconds)
        return worlds[0].clock_json()

    async def faults(self, key: str | None) -> list[Fault]:
        return [fault for sim in await self.chosen(key) for fault in await sim.faults()]

    async def add_fault(
        self,
        key: str | None,
        scenario: str,
        operation: str | None,
        api_key: str | None,
        times: int | None,
    ) -> Fault:
        """A fault for the chosen worlds; one that matches a key goes to that key's world
        alone (it could hit no other)."""
        worlds = await self.chosen(key if key is not None else api_key)
        added = [await sim.add_fault(scenario, operation, api_key, times) for sim in worlds]
        return added[0]

    async def remove_fault(self, key: str | None, fault_id: int) -> None:
        removed = 0
        for sim in await self.chosen(key):
            try:
                await sim.remove_fault(fault_id)
                removed += 1
            except NotFound:
                pass
        if not removed:
            raise NotFound(f"No fault with id {fault_id}")

    async def clear_faults(self, key: str | None) -> None:
        for sim in await self.chosen(key):
            await sim.clear_faults()

    async def journal(
        self, key: str | None, wanted: EntryFilter, *, wait: float, at_least: int
    ) -> list[Entry]:
        worlds = await self.chosen(key)
        if len(worlds) == 1:
            return await worlds[0].journal(wanted, wait=wait, at_least=at_least)
        if wait > 0:  # one world's match answers the long-poll: a key's requests are in one
            found = await first_found(
                [sim.journal(wanted, wait=wait, at_least=at_least) for sim in worlds]
            )
            if found:
                return found
        return _by_time([await sim.journal(wanted) for sim in worlds])

    async def accounts(self, key: str | None) -> list[tuple[str, AccountView]]:
        return [item for sim in await self.chosen(key) for item in await sim.accounts(key)]

    async def deliveries(self, key: str | None, task_id: str | None, wait: float) -> list[Delivery]:
        worlds = await self.chosen(key)
        if len(worlds) == 1:
            return await worlds[0].deliveries(task_id, wait=wait)
        if wait > 0:
            return await first_found([sim.deliveries(task_id, wait=wait) for sim in worlds])
        return [d for sim in worlds for d in await sim.deliveries(task_id)]

    async def tasks(self, key: str | None) -> list[tuple[Task, float]]:
        """Every task with its world's time now, each world's in creation order."""
        return [(task, sim.now()) for sim in await self.chosen(key) for task in await sim.tasks()]

    async def _owner_of(self, key: str | None, task_id: str) -> Simulator:
        """The world that holds a task (the chosen one, or whichever has it)."""
        worlds = await self.chosen(key)
        for sim in worlds:
            if await sim.store.get_task(task_id) is not None:
                return sim
        return worlds[0]  # it answers the 404

    async def cancel(self, key: str | None, task_id: str) -> tuple[Task, float]:
        """Cancel a task in the world that holds it: the task, and that world's time."""
        sim = await self._owner_of(key, task_id)
        return await sim.cancel(task_id), sim.now()

    async def replay_callback(self, key: str | None, task_id: str) -> Delivery:
        return await (await self._owner_of(key, task_id)).replay_callback(task_id)

    async def video(self, task_id: str) -> Task | None:
        for sim in self.all():
            found = await sim.video(task_id)
            if found is not None:
                return found
        return None

    async def file_content(
        self, file_id: str, name: str | None = None
    ) -> tuple[StoredFile, bytes] | None:
        """An uploaded file and its bytes, from whichever world holds it (its URL needs no key)."""
        for sim in self.all():
            found = await sim.files.content(file_id, name)
            if found is not None:
                return found
        return None

    async def files(self, key: str | None) -> list[tuple[StoredFile, float]]:
        """Every live uploaded file with its world's time now, each world's oldest first."""
        found = []
        for sim in await self.chosen(key):
            await sim.catch_up()
            now = sim.now()
            found += [(file, now) for file in await sim.store.files(None, now)]
        return found

    def recorded_video(self, task_id: str) -> str | None:
        return next(filter(None, (sim.recorded_video(task_id) for sim in self.all())), None)

    async def reset(self, key: str | None) -> None:
        for sim in await self.chosen(key):
            await sim.reset()

    async def metrics(self, key: str | None) -> MetricsSnapshot:
        snapshots = [await sim.metrics() for sim in await self.chosen(key)]
        return merge_snapshots(snapshots)


async def first_found(waits: Iterable[Awaitable[list[T]]]) -> list[T]:
    """The first non-empty answer of several long-polls (the others cancelled), or empty when
    all of them come back empty."""
    pending = {asyncio.ensure_future(wait) for wait in waits}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                if found := future.result():
                    return found
        return []
    finally:
        for future in pending:
            future.cancel()


def _by_time(journals: list[list[Entry]]) -> list[Entry]:
    return list(heapq.merge(*journals, key=lambda entry: entry.time))


def merge_snapshots(snapshots: list[MetricsSnapshot]) -> MetricsSnapshot:
    if len(snapshots) == 1:
        return snapshots[0]
    requests: Counter[tuple[str, int]] = Counter()
    tasks: Counter[tuple[str, str]] = Counter()
    attempts: Counter[str] = Counter()
    takeovers = replays = 0
    latency: dict[str, tuple[list[int], float]] = {}
    for snap in snapshots:
        requests.update(snap.requests)
        tasks.update(snap.tasks)
        attempts.update(snap.callback_attempts)
        takeovers += snap.callback_takeovers
        replays += snap.idempotent_replays
        for operation, (counts, total) in snap.latency.items():
            mine = latency.get(operation)
            if mine is None:
                latency[operation] = (list(counts), total)
            else:
                latency[operation] = (
                    [a + b for a, b in zip(mine[0], counts, strict=True)],
                    mine[1] + total,
                )
    return MetricsSnapshot(dict(requests), latency, dict(tasks), dict(attempts), takeovers, replays)
