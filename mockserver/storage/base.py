"""The store interface: everything one simulator keeps, behind one protocol.

A simulator reads and changes its state only through a `Store`: tasks, the credit accounts and
their reservations, rate-limit buckets, admin faults, the request journal, callback deliveries,
uploaded files and the clock. Every operation that checks and changes at once (a reservation
against credits and a concurrency cap, a token taken from a bucket, a `times: N` fault used up,
a file kept against a quota) is one method, so that a store shared by several processes can
make it atomic.

Three implementations: `MemoryStore` (the default), `SqliteStore` (`--db PATH`, the memory store
written through to a file) and `RedisStore` (`--store redis://...`, shared by processes). What
each writes is a named record (`storage.records`). A new store implements this protocol and
joins the parameter list of the behaviour tests (`tests/conftest.py`), which hold every store to
it (`tests/storage/test_store.py`).

Building a store does no I/O: `open` connects, brings what an earlier release wrote up to date,
and loads what the simulator carries on from.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple, Protocol

from ..domain.clock import Clock, ClockKind
from ..domain.deliveries import Delivery
from ..domain.errors import StoreOutage
from ..domain.faults import Fault
from ..domain.files import StoredFile
from ..domain.idempotency import Claim
from ..domain.journal import Entry
from ..domain.limits import AccountView
from ..domain.tasks import Task


class StoreUnavailable(StoreOutage):
    """A store that cannot be reached (a Redis that is down, a wrong URL): at startup, or for
    one operation (answered 500; the next one tries again). The domain's `StoreOutage`, which
    the layers above catch."""


class Refusal(enum.Enum):
    """Why a new task was not kept."""

    #: the key already runs as many tasks as it may
    CONCURRENCY = "concurrency"
    #: the key has less credit left than the task costs
    CREDITS = "credits"


class NewTask(NamedTuple):
    """A task to keep, with what its admission is checked against."""

    task: Task
    #: the owner's starting balance, should this task open its account (None: unlimited)
    balance: float | None
    #: how many tasks the owner may run at once (None: no cap)
    max_concurrent: int | None
    #: the simulated time of the create: what ended before it is settled first
    now: float
    #: the create's idempotency key, bound to the task if it is kept (None: no key)
    claim: Claim | None = None


class Added(NamedTuple):
    """The task is kept, and its price reserved."""

    task: Task


class Refused(NamedTuple):
    """Nothing is kept: the owner may not run this task now."""

    reason: Refusal


class Exists(NamedTuple):
    """Nothing is kept: a task with this id already is, or the create's idempotency key is
    bound already (the task answered here)."""

    task: Task
    #: the claim the key was bound with, when that is why (None: the task's id was taken)
    claim: Claim | None = None


#: What `Store.add_task` answers.
AddResult = Added | Refused | Exists


class NewFile(NamedTuple):
    """An uploaded file to keep, with its bytes and what its owner's quota is."""

    file: StoredFile
    content: bytes
    #: how many live files the owner may keep (None: no limit)
    max_files: int | None
    #: the simulated time of the upload: what expired before it is forgotten first
    now: float


class FileKept(enum.Enum):
    """What `Store.add_file` did."""

    ADDED = "added"
    #: nothing kept: the owner's live files fill its quota
    QUOTA_FULL = "quota_full"
    #: nothing kept: a file of this id is kept already
    ID_TAKEN = "id_taken"


class ClockState(NamedTuple):
    """A stored clock: a virtual clock's time, or a real clock's anchor (simulated time `sim`
    at wall time `wall`, running `speed` times faster)."""

    kind: ClockKind
    speed: float | None
    wall: float
    sim: float


class Restored(NamedTuple):
    """What a store kept from an earlier run, for the simulator to carry on from."""

    clock: ClockState | None
    #: Every task, and whether its end was handled (its callback delivery started).
    tasks: list[tuple[Task, bool]]
    #: Callback deliveries still pending.
    pending: list[Delivery]


NOTHING_RESTORED = Restored(None, [], [])


class TakenOver(NamedTuple):
    """What a process took over from processes that died (a shared store)."""

    #: Callback deliveries they had pending: carried on from where their log stops.
    deliveries: list[Delivery]
    #: Tasks with a callback URL they created and had not ended yet: their end is scheduled.
    ends: list[Task]


NOTHING_TAKEN = TakenOver([], [])


class Store(Protocol):
    #: whether other processes share this store (and its clock) at the same time
    shared: bool
    #: what names this store's records apart from others' in the same place ("" for a store of
    #: its own)
    prefix: str

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self, balance_for: Callable[[str], float | None]) -> Restored:
        """Connect, bring what an earlier release wrote up to this one's records, and load what
        an earlier run left (at startup, before serving); a restored account starts from
        `balance_for(api_key)`. Raises StoreUnavailable when the store cannot be reached."""
        ...

    def with_prefix(self, prefix: str) -> Store:
        """A store for an isolated key's world: on a shared store the same connection, its
        records under `prefix`; otherwise a memory store of its own."""
        ...

    async def save_clock(self, clock: Clock) -> None:
        """Write the clock down: at startup (a real clock's anchor), and each time it moves
        (a virtual clock's advance); a shared store keeps the latest time any process moved
        it to."""
        ...

    async def shared_time(self) -> float | None:
        """A shared store: the virtual time another process may have moved the clock to
        (None for a real clock, or a store no other process shares)."""
        ...

    async def clear(self) -> None:
        """Forget everything but the clock."""
        ...

    def close(self) -> None:
        """Release what the store holds (a file, a connection); idempotent."""
        ...

    # -- tasks ----------------------------------------------------------------------------------

    async def add_task(self, new: NewTask) -> AddResult:
        """Keep a new task and reserve its price on its owner's account (opened with
        `new.balance` if new), in one step: `Refused`, and nothing kept, if the key already
        runs `new.max_concurrent` tasks or has less credit left than the task costs; `Exists`,
        and nothing changed, if a task of this id is kept already, or if `new.claim`'s key is
        bound to a task of the owner's and has not expired (checked first, before the
        owner's limits). A kept task binds `new.claim`'s key to it, in the same step."""
        ...

    async def get_task(self, task_id: str) -> Task | None: ...

    async def next_end(self, owner: str, now: float) -> float | None:
        """When the first of the key's running tasks ends (None if none runs at `now`): when
        its concurrency limit next lets a task in."""
        ...

    async def save_plan(self, task: Task) -> None:
        """`task.plan` was replaced (a cancel): keep the new one, and settle the task's
        reservation at its new end."""
        ...

    async def tasks(self) -> list[Task]:
        """Every task, in creation order."""
        ...

    async def tasks_of(self, owner: str) -> list[Task]:
        """The key's tasks, in creation order (a listing of one key's tasks reads these, not
        every task)."""
        ...

    async def count_tasks(self) -> int: ...

    # -- accounts -------------------------------------------------------------------------------

    async def accounts(self, now: float) -> list[tuple[str, AccountView]]:
        """Every account that has reserved anything, settled at `now`."""
        ...

    # -- rate limits ----------------------------------------------------------------------------

    async def take_token(self, key: str, rate: float, size: float, now: float) -> float:
        """Take a token from the key's bucket (made full if new): 0.0 if taken, else the
        seconds until the next one."""
        ...

    # -- faults ---------------------------------------------------------------------------------

    async def add_fault(
        self, scenario: str, operation: str | None, api_key: str | None, times: int | None
    ) -> Fault: ...

    async def take_fault(self, operation: str, api_key: str) -> Fault | None:
        """The most specific fault matching the request, used up by one."""
        ...

    async def faults(self) -> list[Fault]: ...

    async def remove_fault(self, fault_id: int) -> bool: ...

    async def clear_faults(self) -> None: ...

    # -- the journal ----------------------------------------------------------------------------

    async def log_request(self, entry: Entry) -> None:
        """Add an entry to the request journal."""
        ...

    async def journal(self) -> list[Entry]:
        """The last entries kept, oldest first."""
        ...

    # -- uploaded files -------------------------------------------------------------------------

    async def add_file(self, new: NewFile) -> FileKept:
        """Keep an uploaded file and its bytes, in one step, unless a file of its id is kept or
        its owner's files live at `new.now` already fill `new.max_files`; files expired by
        `new.now` are forgotten first (anyone's, where the store can find them cheaply)."""
        ...

    async def get_file(self, file_id: str) -> StoredFile | None:
        """A kept file, live or expired (not yet forgotten)."""
        ...

    async def file_content(self, file_id: str) -> bytes | None: ...

    async def files(self, owner: str | None, now: float) -> list[StoredFile]:
        """The files live at `now` (the owner's, or everyone's), oldest first."""
        ...

    async def count_files(self, owner: str, now: float) -> int:
        """How many of the owner's files are live at `now`: what its quota counts."""
        ...

    async def delete_file(self, file_id: str) -> bool:
        """Forget a file and its bytes; False if none was kept."""
        ...

    # -- callback deliveries --------------------------------------------------------------------

    async def save_delivery(self, delivery: Delivery) -> bool:
        """A delivery started or changed: keep it (the first save of a task's end delivery also
        marks that end handled). False, and nothing kept, when the delivery is not this
        process's to send, on a shared store: another process saved the task's end delivery
        first (every process that knows the task starts one when it ends), or took this one
        over after this process's lease lapsed (`take_over`)."""
        ...

    async def deliveries(self, task_id: str | None = None) -> list[Delivery]: ...

    async def take_over(self) -> TakenOver:
        """A shared store: renew this process's lease, and take over from any process whose
        lease lapsed (killed, or hung longer than the lease) the ends of the tasks it created
        and its pending deliveries, to carry on here with the same webhook-ids; nothing in a
        lease's length after the store opened or last failed (others' leases may have lapsed
        while it was away). Nothing for a store no other process shares."""
        ...
