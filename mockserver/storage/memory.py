"""The default store: plain Python structures in this process. Reads are dict lookups."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ..domain.clock import Clock
from ..domain.deliveries import MAX_DELIVERIES, Delivery
from ..domain.faults import Fault, Faults
from ..domain.files import StoredFile
from ..domain.idempotency import Claim
from ..domain.journal import MAX_ENTRIES, Entry
from ..domain.limits import Account, AccountView, TokenBucket
from ..domain.tasks import Task
from .base import (
    NOTHING_RESTORED,
    NOTHING_TAKEN,
    Added,
    AddResult,
    Exists,
    FileKept,
    NewFile,
    NewTask,
    Refusal,
    Refused,
    Restored,
    Store,
    TakenOver,
)

#: Reservations a key without limits settles per new task: a backlog of tasks that ended while
#: nobody asked drains several times as fast as tasks are created, a few at a time.
SETTLE_PER_TASK = 8


class MemoryStore:
    """Everything in memory: lost when the process ends."""

    shared = False

    def __init__(
        self,
        *,
        prefix: str = "",
        journal_limit: int = MAX_ENTRIES,
        delivery_limit: int = MAX_DELIVERIES,
    ) -> None:
        self.prefix = prefix
        self.journal_limit = journal_limit
        self.delivery_limit = delivery_limit
        self._tasks: dict[str, Task] = {}
        self._accounts: dict[str, Account] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._faults = Faults()
        self._journal: deque[Entry] = deque(maxlen=journal_limit)
        #: webhook id -> delivery, oldest first
        self._deliveries: dict[str, Delivery] = {}
        #: (owner, idempotency key) -> the claim that bound it, and its task's id
        self._claims: dict[tuple[str, str], tuple[Claim, str]] = {}
        #: owner -> the ids of its tasks, oldest first
        self._owned: dict[str, list[str]] = {}
        #: uploaded files by id, oldest first, and their bytes
        self._files: dict[str, StoredFile] = {}
        self._file_bytes: dict[str, bytes] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self, balance_for: Callable[[str], float | None]) -> Restored:
        return NOTHING_RESTORED

    def with_prefix(self, prefix: str) -> Store:
        return MemoryStore(
            prefix=prefix, journal_limit=self.journal_limit, delivery_limit=self.delivery_limit
        )

    async def save_clock(self, clock: Clock) -> None:
        pass

    async def shared_time(self) -> float | None:
        return None

    async def clear(self) -> None:
        self._tasks.clear()
        self._accounts.clear()
        self._buckets.clear()
        self._faults.clear()
        self._journal.clear()
        self._deliveries.clear()
        self._claims.clear()
        self._owned.clear()
        self._files.clear()
        self._file_bytes.clear()

    def close(self) -> None:
        pass

    # -- tasks ----------------------------------------------------------------------------------

    async def add_task(self, new: NewTask) -> AddResult:
        task, max_concurrent, now, claim = new.task, new.max_concurrent, new.now, new.claim
        if claim is not None:
            bound = self._claims.get((task.owner, claim.key))
            if bound is not None and bound[0].expires > now:
                kept = self._tasks.get(bound[1])
                if kept is not None:
                    return Exists(kept, bound[0])
        kept = self._tasks.get(task.id)
        if kept is not None:
            return Exists(kept)
        account = self._accounts.get(task.owner)
        if account is None:
            account = self._open_account(task.owner, new.balance)
        if max_concurrent is None and account.credits is None:
            account.settle(now, at_most=SETTLE_PER_TASK)  # nothing below reads the balance
        else:
            account.settle(now)
            if max_concurrent is not None and account.running() >= max_concurrent:
                return Refused(Refusal.CONCURRENCY)
            remaining = account.remaining
            if remaining is not None and task.price > remaining + 1e-9:
                return Refused(Refusal.CREDITS)
        self._keep(task, claim)
        account.reserve(task)
        return Added(task)

    def _keep(self, task: Task, claim: Claim | None) -> None:
        self._remember(task)
        if claim is not None:
            self._claims[task.owner, claim.key] = (claim, task.id)

    def _remember(self, task: Task) -> None:
        """Keep a task, and index it under its owner."""
        self._tasks[task.id] = task
        self._owned.setdefault(task.owner, []).append(task.id)

    def _open_account(self, owner: str, credits: float | None) -> Account:
        account = self._accounts[owner] = Account(credits)
        return account

    async def get_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    async def next_end(self, owner: str, now: float) -> float | None:
        account = self._accounts.get(owner)
        if account is None:
            return None
        account.settle(now)
        return account.next_end()

    async def save_plan(self, task: Task) -> None:
        self._tasks[task.id] = task
        account = self._accounts.get(task.owner)
        if account is not None:
            account.replanned(task)

    async def tasks(self) -> list[Task]:
        return list(self._tasks.values())

    async def tasks_of(self, owner: str) -> list[Task]:
        return [self._tasks[task_id] for task_id in self._owned.get(owner, ())]

    async def count_tasks(self) -> int:
        return len(self._tasks)

    # -- accounts -------------------------------------------------------------------------------

    async def accounts(self, now: float) -> list[tuple[str, AccountView]]:
        listing = []
        for key, account in list(self._accounts.items()):
            account.settle(now)
            listing.append((key, account.view()))
        return listing

    # -- rate limits ----------------------------------------------------------------------------

    async def take_token(self, key: str, rate: float, size: float, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, size, size, now)
        return bucket.take(now)

    # -- faults ---------------------------------------------------------------------------------

    async def add_fault(
        self, scenario: str, operation: str | None, api_key: str | None, times: int | None
    ) -> Fault:
        return self._faults.add(scenario, operation, api_key, times)

    async def take_fault(self, operation: str, api_key: str) -> Fault | None:
        return self._faults.take(operation, api_key) if self._faults else None

    async def faults(self) -> list[Fault]:
        return list(self._faults)

    async def remove_fault(self, fault_id: int) -> bool:
        return self._faults.remove(fault_id)

    async def clear_faults(self) -> None:
        self._faults.clear()

    # -- the journal ----------------------------------------------------------------------------

    async def log_request(self, entry: Entry) -> None:
        self._journal.append(entry)

    async def journal(self) -> list[Entry]:
        return list(self._journal)

    # -- uploaded files -------------------------------------------------------------------------

    async def add_file(self, new: NewFile) -> FileKept:
        file, now = new.file, new.now
        for gone in [f.id for f in self._files.values() if not f.live(now)]:
            self._drop_file(gone)
        if file.id in self._files:
            return FileKept.ID_TAKEN
        if new.max_files is not None:
            held = sum(1 for f in self._files.values() if f.owner == file.owner)
            if held >= new.max_files:
                return FileKept.QUOTA_FULL
        self._keep_file(file, new.content)
        return FileKept.ADDED

    def _keep_file(self, file: StoredFile, content: bytes) -> None:
        self._files[file.id] = file
        self._file_bytes[file.id] = content

    def _drop_file(self, file_id: str) -> None:
        self._files.pop(file_id, None)
        self._file_bytes.pop(file_id, None)

    async def get_file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    async def file_content(self, file_id: str) -> bytes | None:
        return self._file_bytes.get(file_id)

    async def files(self, owner: str | None, now: float) -> list[StoredFile]:
        return [
            f for f in self._files.values() if f.live(now) and (owner is None or f.owner == owner)
        ]

    async def count_files(self, owner: str, now: float) -> int:
        return sum(1 for f in self._files.values() if f.owner == owner and f.live(now))

    async def delete_file(self, file_id: str) -> bool:
        found = file_id in self._files
        self._drop_file(file_id)
        return found

    # -- callback deliveries --------------------------------------------------------------------

    async def save_delivery(self, delivery: Delivery) -> bool:
        self._log_delivery(delivery)
        return True  # one process: every delivery is its own

    def _log_delivery(self, delivery: Delivery) -> None:
        deliveries = self._deliveries
        if delivery.webhook_id in deliveries:
            return
        deliveries[delivery.webhook_id] = delivery
        if len(deliveries) > self.delivery_limit:
            del deliveries[next(iter(deliveries))]

    async def deliveries(self, task_id: str | None = None) -> list[Delivery]:
        return [d for d in self._deliveries.values() if task_id is None or d.task.id == task_id]

    async def take_over(self) -> TakenOver:
        return NOTHING_TAKEN  # no other process
