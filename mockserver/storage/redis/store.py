"""The Redis store: the `Store` protocol over the keys the package's docstring lists, each
check-and-change one Lua script (`lua/`)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from ...domain.clock import Clock, RealClock
from ...domain.deliveries import MAX_DELIVERIES
from ...domain.faults import Fault
from ...domain.journal import MAX_ENTRIES, Entry
from ...domain.limits import AccountView
from ...domain.tasks import Task
from ..base import Added, AddResult, ClockState, Exists, NewTask, Refusal, Refused, Restored
from ..records import (
    FORMAT,
    claim_from,
    claim_record,
    clock_from,
    dumps,
    entry_from,
    entry_record,
    fault_record,
    loads,
    task_record,
)
from .core import fault_from_text, final, number, on_io, task_from_text
from .deliveries import Deliveries
from .files import Files
from .link import Clients
from .migrate import migrate

#: Seconds a process's lease on its callback deliveries lasts unless renewed (every second
#: while it runs): how long the deliveries of a killed process wait to be taken over.
LEASE = 5.0


class RedisStore(Deliveries, Files):
    """A `Store` in Redis, shared by every process that opens the same URL and prefix."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "evolink-mock",
        journal_limit: int = MAX_ENTRIES,
        delivery_limit: int = MAX_DELIVERIES,
        lease: float = LEASE,
        _shared: RedisStore | None = None,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.journal_limit = journal_limit
        self.delivery_limit = delivery_limit
        self.lease = lease
        self._closed = False
        self._clients: Clients
        #: where this process's lease lives (the prefix the worlds' prefixes extend), and the
        #: token that names this process in it and as the owner of its deliveries
        self.root: str
        self.token: str
        if _shared is not None:  # another prefix on the same connection (`with_prefix`)
            self._owner = False
            self._clients = _shared._clients
            self.root, self.token = _shared.root, _shared.token
            return
        self._owner = True
        self.root, self.token = prefix, secrets.token_hex(8)
        # each caller's loop has a client of its own, made on its first call (`_clients`)
        self._clients = Clients(url)

    def with_prefix(self, prefix: str) -> RedisStore:
        """A store under another prefix on this one's connection (an isolated key's world);
        closing it leaves the connection to this store."""
        return RedisStore(
            self.url,
            prefix=prefix,
            journal_limit=self.journal_limit,
            delivery_limit=self.delivery_limit,
            lease=self.lease,
            _shared=self,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    @on_io
    async def open(self, balance_for: Callable[[str], float | None]) -> Restored:
        """Reach Redis (a wrong URL, or a Redis that is down, fails here), bring the prefix's
        records to this format, and read the clock and every task (and whether its end was
        handled). Accounts, buckets and faults stay in Redis; pending deliveries are another
        process's while its lease lasts, and `take_over` carries them on after."""
        await migrate(self._redis, self._key, url=self.url, token=self.token)
        await self._run(
            "index_owners",
            order=self._key("order"),
            indexed=self._key("owned_index"),
            prefix=self.prefix,
        )
        handled = set(await self._redis.smembers(self._key("handled")))
        tasks = await self._tasks()
        return Restored(await self._stored_clock(), [(t, t.id in handled) for t in tasks], [])

    async def _stored_clock(self) -> ClockState | None:
        kept: dict[str, str] = await self._redis.hgetall(self._key("clock"))
        return clock_from({**kept, "v": int(kept["v"])}) if kept else None

    def _clock_fields(self, clock: Clock) -> dict[str, str]:
        speed = clock.speed if isinstance(clock, RealClock) else None
        return {
            "kind": clock.kind,
            "speed": "" if speed is None else number(speed),
            "wall": number(time.time()),
            "sim": number(clock.now()),
        }

    @on_io
    async def shared_time(self) -> float | None:
        kept = await self._send("HMGET", self._key("clock"), "kind", "sim")
        return float(kept[1]) if kept[0] == "virtual" and kept[1] else None

    @on_io
    async def save_clock(self, clock: Clock) -> None:
        fields = self._clock_fields(clock)
        await self._run("save_clock", clock=self._key("clock"), **fields, format=FORMAT)

    @on_io
    async def clear(self) -> None:
        client = self._redis
        clock = self._key("clock")
        doomed = [key async for key in client.scan_iter(match=self._key("*")) if key != clock]
        for start in range(0, len(doomed), 500):
            await client.delete(*doomed[start : start + 500])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._owner:
            return
        self._clients.close()

    # -- tasks ----------------------------------------------------------------------------------

    @on_io
    async def add_task(self, new: NewTask) -> AddResult:
        task, balance, max_concurrent, claim = new.task, new.balance, new.max_concurrent, new.claim
        ends_here = task.request.callback_url is not None  # this process's to end
        claims = self._key("claims", task.owner)
        answer = await self._run(
            "add_task",
            **self._account_keys(task.owner),
            task=self._key("task", task.id),
            order=self._key("order"),
            accounts=self._key("accounts"),
            ends=self._key("ends", self.token),
            end_owner=self._key("end_owner"),
            procs=self._key("procs"),
            alive=self._alive,
            id=task.id,
            owner=task.owner,
            record=dumps(task_record(task)),
            ends_at=number(task.plan.ended),
            price=number(task.price),
            final=final(task),
            balance="" if balance is None else number(balance),
            cap="" if max_concurrent is None else str(max_concurrent),
            now=number(new.now),
            token=self.token if ends_here else "",
            lease_ms=self._lease_ms,
            claims=claims,
            owned=self._key("owned", task.owner),
            claim_key="" if claim is None else claim.key,
            claim="" if claim is None else dumps(claim_record(claim, task.id)),
        )
        if answer == "ok":
            return Added(task)
        if answer == "duplicate":
            kept = await self._send("GET", self._key("task", task.id))
            return Exists(task_from_text(kept))
        if isinstance(answer, list):  # the key is bound already
            bound, task_id = claim_from(loads(answer[1]))
            kept = await self._send("GET", self._key("task", task_id))
            if kept is None:  # a binding whose task is gone binds nothing: free the key
                await self._send("HDEL", claims, bound.key)
                return await self.add_task(new)
            return Exists(task_from_text(kept), bound)
        return Refused(Refusal(answer))

    def _account_keys(self, owner: str) -> dict[str, str]:
        """The keys of an account's scripts: the account, its reservations, and the prices and
        ends they settle by."""
        return {
            "acct": self._key("acct", owner),
            "run": self._key("run", owner),
            "prices": self._key("price"),
            "finals": self._key("final"),
        }

    @on_io
    async def get_task(self, task_id: str) -> Task | None:
        row = await self._send("GET", self._key("task", task_id))
        return None if row is None else task_from_text(row)

    @on_io
    async def next_end(self, owner: str, now: float) -> float | None:
        kept = await self._run("account", **self._account_keys(owner), now=number(now))
        return float(kept[4]) if kept and kept[4] else None

    @on_io
    async def save_plan(self, task: Task) -> None:
        await self._run(
            "save_plan",
            task=self._key("task", task.id),
            finals=self._key("final"),
            run=self._key("run", task.owner),
            id=task.id,
            record=dumps(task_record(task)),
            ends_at=number(task.plan.ended),
            final=final(task),
        )

    @on_io
    async def tasks(self) -> list[Task]:
        return await self._tasks()

    @on_io
    async def tasks_of(self, owner: str) -> list[Task]:
        return await self._tasks("owned", owner)

    @on_io
    async def count_tasks(self) -> int:
        count: int = await self._redis.llen(self._key("order"))
        return count

    # -- accounts -------------------------------------------------------------------------------

    @on_io
    async def accounts(self, now: float) -> list[tuple[str, AccountView]]:
        listing = []
        for owner in await self._redis.lrange(self._key("accounts"), 0, -1):
            kept = await self._run("account", **self._account_keys(owner), now=number(now))
            if not kept:
                continue
            credits = float(kept[0]) if kept[0] != "" else None
            used, reserved, running = float(kept[1]), float(kept[2]), int(kept[3])
            if running == 0:
                reserved = 0.0  # no float dust once nothing is reserved
            remaining = None if credits is None else round(credits - used - reserved, 6)
            view = AccountView(credits, round(used, 6), round(reserved, 6), remaining, running)
            listing.append((owner, view))
        return listing

    # -- rate limits ----------------------------------------------------------------------------

    @on_io
    async def take_token(self, key: str, rate: float, size: float, now: float) -> float:
        wait = float(
            await self._run(
                "take_token",
                bucket=self._key("bucket", key),
                rate=number(rate),
                size=number(size),
                now=number(now),
            )
        )
        return float("inf") if wait < 0 else wait

    # -- faults ---------------------------------------------------------------------------------

    @on_io
    async def add_fault(
        self, scenario: str, operation: str | None, api_key: str | None, times: int | None
    ) -> Fault:
        client = self._redis
        fault = Fault(
            await client.incr(self._key("fault_ids")), scenario, operation, api_key, times
        )
        await client.hset(self._key("faults"), str(fault.id), dumps(fault_record(fault)))
        return fault

    @on_io
    async def take_fault(self, operation: str, api_key: str) -> Fault | None:
        taken = await self._run(
            "take_fault", faults=self._key("faults"), operation=operation, api_key=api_key
        )
        if not taken:
            return None
        fault = fault_from_text(taken)
        if fault.remaining is not None:
            fault.remaining -= 1  # as the memory store's: what is left after this one
        return fault

    @on_io
    async def faults(self) -> list[Fault]:
        kept = await self._redis.hgetall(self._key("faults"))
        return sorted((fault_from_text(text) for text in kept.values()), key=lambda f: f.id)

    @on_io
    async def remove_fault(self, fault_id: int) -> bool:
        removed: int = await self._redis.hdel(self._key("faults"), str(fault_id))
        return removed > 0

    @on_io
    async def clear_faults(self) -> None:
        await self._redis.delete(self._key("faults"))

    # -- the journal ----------------------------------------------------------------------------

    @on_io
    async def log_request(self, entry: Entry) -> None:
        await self._run(
            "log_request",
            journal=self._key("journal"),
            entry=dumps(entry_record(entry)),
            limit=self.journal_limit,
        )

    @on_io
    async def journal(self) -> list[Entry]:
        rows = await self._redis.lrange(self._key("journal"), 0, -1)
        return [entry_from(loads(row)) for row in rows]
