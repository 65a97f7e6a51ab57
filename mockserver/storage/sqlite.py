"""Durable state for `--db PATH`: SQLite under the in-memory structures.

The in-memory structures stay the read path (a task read is a dict lookup); this module writes
every change through to one SQLite file and loads it all back at startup, so that a restart, even
after `kill -9`, continues where the server stopped. Without `--db` nothing here is imported.

What is kept, and when it is written (each a committed transaction, over one connection opened at
startup; sqlite3 caches the prepared statements):

- tasks: one INSERT in the create path, before the 200 is sent; an UPDATE when a plan changes (a
  cancel). `end_handled` is set in the same transaction as the first write of a task's end
  callback delivery, so a restart neither loses nor repeats the start of a delivery;
- the clock: the virtual clock's time after every advance; for the real clock an anchor
  (simulated time at a wall-clock `time.time()`, and the speed), written at startup, from which
  the next startup derives where simulated time has got to meanwhile. The stored clock wins over
  `--clock`, `--speed` and `--start-time`, which only shape a new database (a warning says so);
- idempotency keys: one row per key bound to a task, written in the task's INSERT transaction,
  so a key answered before `kill -9` is bound after the restart;
- which keys have accounts (one row per key, once): balances are derived from the tasks on load
  (a task not yet ended holds a reservation, a completed one is charged), so billing needs
  nothing else;
- callback deliveries: one row each (task, url, webhook-id, trigger, outcome, attempts as JSON),
  written when an attempt starts and when it ends. The last 10,000 are kept, and every pending
  one;
- the request journal: one row per API request, the last 10,000 kept (trimmed every 1,000).
- uploaded files: one row each, its bytes in a BLOB beside its fields, written before the
  upload is answered and deleted when it is deleted or found expired; only the fields are
  loaded at startup, the bytes are read from the file each time they are served.

Not kept: admin faults and rate-limit buckets (a restart starts them afresh).

Durability: WAL journal with `synchronous=NORMAL`, which survives the process being killed (the
OS has every committed write), though not necessarily a power cut. `locking_mode=EXCLUSIVE` holds
the file for the server's lifetime, so a second server on the same file fails at startup instead
of the two overwriting each other. Closing checkpoints the WAL into the database file.
"""

from __future__ import annotations

from collections.abc import Callable

from ..domain.clock import Clock
from ..domain.deliveries import Delivery, Outcome
from ..domain.files import StoredFile
from ..domain.idempotency import Claim
from ..domain.journal import Entry
from ..domain.limits import Account
from ..domain.tasks import Task
from .base import Restored, Store, StoreUnavailable
from .memory import MemoryStore
from .sqlite_file import Database, DatabaseError

__all__ = ["Database", "DatabaseError", "SqliteStore"]


class SqliteStore(MemoryStore):
    """The memory store, with every change written through to a `Database` first: reads stay
    in memory, and what a create answered is on disk before the answer is sent. The file is
    opened (and migrated) by `open`."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._db: Database | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise StoreUnavailable(f"{self.path}: the store is not open (await store.open())")
        return self._db

    async def open(self, balance_for: Callable[[str], float | None]) -> Restored:
        """Open the file (migrating an older layout), and take back tasks (and the reservations
        they imply), accounts, deliveries and the journal; balances are derived from the
        tasks."""
        if self._db is None:
            self._db = Database(self.path)
            self.journal_limit = self._db.journal_limit
            self.delivery_limit = self._db.delivery_limit
        db = self.db
        for key in db.load_accounts():
            super()._open_account(key, balance_for(key))
        tasks = list(db.load_tasks())
        for task, _ in tasks:
            self._remember(task)
            account = self._accounts.get(task.owner) or super()._open_account(
                task.owner, balance_for(task.owner)
            )
            account.reserve(task)  # settled (charged or released) when next asked
        for owner, claim, task_id in db.load_claims():
            self._claims[owner, claim.key] = (claim, task_id)
        for file in db.load_files():
            self._files[file.id] = file
        for entry in db.load_journal():
            self._journal.append(entry)
        pending = []
        for delivery in db.load_deliveries(self._tasks.get):
            self._log_delivery(delivery)
            if delivery.outcome is Outcome.PENDING:
                pending.append(delivery)
        return Restored(db.stored_clock(), tasks, pending)

    def with_prefix(self, prefix: str) -> Store:
        """An isolated key's world is kept in memory: the file holds the default world."""
        return MemoryStore(prefix=prefix)

    async def save_clock(self, clock: Clock) -> None:
        self.db.save_clock(clock)

    async def clear(self) -> None:
        self.db.clear()
        await super().clear()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def _keep(self, task: Task, claim: Claim | None) -> None:
        self.db.insert_task(task, claim)  # first: a task the database refused is not half-kept
        super()._keep(task, claim)

    def _open_account(self, owner: str, credits: float | None) -> Account:
        self.db.add_account(owner)
        return super()._open_account(owner, credits)

    async def save_plan(self, task: Task) -> None:
        self.db.update_plan(task)
        await super().save_plan(task)

    def _keep_file(self, file: StoredFile, content: bytes) -> None:
        self.db.insert_file(file, content)  # the bytes stay in the file, read when served
        self._files[file.id] = file

    def _drop_file(self, file_id: str) -> None:
        self.db.delete_file(file_id)
        super()._drop_file(file_id)

    async def file_content(self, file_id: str) -> bytes | None:
        return self.db.file_content(file_id) if file_id in self._files else None

    async def log_request(self, entry: Entry) -> None:
        self.db.append_entry(entry)
        self._journal.append(entry)

    async def save_delivery(self, delivery: Delivery) -> bool:
        self.db.save_delivery(delivery)
        self._log_delivery(delivery)
        return True
