"""The SQLite file of `--db PATH` (`Database`): opening it, bringing an older one up to the
layout of `sqlite_schema`, and writing and reading through that module's statements. What is
kept and when: `sqlite`."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..domain.clock import Clock, RealClock
from ..domain.deliveries import MAX_DELIVERIES, Delivery
from ..domain.files import StoredFile
from ..domain.idempotency import Claim
from ..domain.journal import MAX_ENTRIES, Entry
from ..domain.tasks import Task
from . import sqlite_schema as sql
from .base import ClockState
from .records import (
    CLAIM_FIELDS,
    ENTRY_FIELDS,
    FILE_FIELDS,
    TASK_FIELDS,
    claim_from,
    claim_record,
    delivery_from,
    delivery_record,
    entry_from,
    entry_record,
    file_from,
    file_record,
    plan_record,
    task_from,
    task_record,
)

log = logging.getLogger("mockserver.store")

#: Journal rows and delivery rows are trimmed to their limit once per this many new ones.
TRIM_EVERY = 1_000


class DatabaseError(Exception):
    """The file cannot serve as the simulator's database (locked, another layout, not SQLite)."""


def _why_unwritable(path: str) -> str | None:
    """Why SQLite could not write beside `path` (WAL mode makes two files next to it), said so
    that a deployment knows what to change; None when it can. SQLite itself only says "unable to
    open database file"."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        flags = os.statvfs(folder).f_flag
    except FileNotFoundError:
        return f"the folder {folder} does not exist"
    except OSError:
        return None  # SQLite's own error says more
    if flags & os.ST_RDONLY:
        return (
            f"{folder} is on a read-only file system: mount a writable volume there "
            f"(in a container: -v NAME:{folder})"
        )
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable by this user (uid {os.getuid()})"
    return None


class Database:
    """One SQLite connection, opened at startup and used from the event loop's thread (it may be
    another thread than the one that opened it: the server's, in `serve_in_thread`)."""

    def __init__(
        self,
        path: str,
        *,
        journal_limit: int = MAX_ENTRIES,
        delivery_limit: int = MAX_DELIVERIES,
    ) -> None:
        self.path = path
        self.journal_limit = journal_limit
        self.delivery_limit = delivery_limit
        self._journal_added = 0
        self._deliveries_added = 0
        self._closed = False
        unwritable = _why_unwritable(path)
        if unwritable:
            raise DatabaseError(f"{path}: {unwritable}")
        try:
            # one connection, no contention: a short busy timeout only makes a second server
            # on the same file fail fast
            self._conn = sqlite3.connect(
                path,
                timeout=0.5,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=32,
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"{path}: {exc}") from exc
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._conn.close()
            reason = str(exc)
            if "locked" in reason:
                reason += " (is another evolink-mock serving it?)"
            raise DatabaseError(f"{path}: {reason}") from exc
        except DatabaseError:
            self._conn.close()
            raise

    def _setup(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DatabaseError(f"{self.path}: cannot use WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        known = version == sql.SCHEMA_VERSION or version in sql.MIGRATIONS
        if not (known or (version == 0 and not tables)):
            raise DatabaseError(
                f"{self.path}: not an evolink-mock database of layout {sql.SCHEMA_VERSION} "
                f"(user_version {version}, {tables} objects)"
            )
        if version == 0:
            conn.executescript(
                f"BEGIN; {sql.SCHEMA} PRAGMA user_version = {sql.SCHEMA_VERSION}; COMMIT;"
            )
        while version in sql.MIGRATIONS:
            script = sql.MIGRATIONS[version]
            version += 1
            conn.executescript(f"BEGIN; {script} PRAGMA user_version = {version}; COMMIT;")
        self._trim_journal()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Fold the WAL into the database file and close; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._conn.close()

    def _transaction(self, statements: list[tuple[str, tuple[Any, ...] | dict[str, Any]]]) -> None:
        conn = self._conn
        conn.execute("BEGIN")
        try:
            for sql, values in statements:
                conn.execute(sql, values)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def clear(self, *tables: str) -> None:
        """Empty these tables, by default all but the clock's (`POST /_mock/reset`, which leaves
        the clock where it is, as it does in memory), in one transaction."""
        for table in tables:
            if table not in sql.TABLES:
                raise ValueError(f"no table {table!r}")
        self._transaction([(f"DELETE FROM {table}", ()) for table in tables or sql.TABLES])

    # -- the clock ------------------------------------------------------------------------------

    def save_clock(self, clock: Clock) -> None:
        """The virtual clock's time, or the real clock's anchor: simulated now at wall now."""
        speed = clock.speed if isinstance(clock, RealClock) else None
        self._conn.execute(sql.SAVE_CLOCK, (clock.kind, speed, time.time(), clock.now()))

    def stored_clock(self) -> ClockState | None:
        """The clock as last saved, if ever."""
        row = self._conn.execute("SELECT kind, speed, wall, sim FROM clock").fetchone()
        return None if row is None else ClockState(row[0], row[1], row[2], row[3])

    # -- tasks and accounts ---------------------------------------------------------------------

    def insert_task(self, task: Task, claim: Claim | None = None) -> None:
        """A new task, and the idempotency key it binds (in the same transaction)."""
        if claim is None:
            self._conn.execute(sql.INSERT_TASK, task_record(task))
            return
        bound = {"owner": task.owner, **claim_record(claim, task.id)}
        self._transaction([(sql.INSERT_TASK, task_record(task)), (sql.BIND_CLAIM, bound)])

    def load_claims(self) -> Iterator[tuple[str, Claim, str]]:
        """Every bound key: its owner, the claim that bound it, and its task's id."""
        cursor = self._conn.execute(f"SELECT owner, {', '.join(CLAIM_FIELDS)} FROM claims")
        for owner, *row in cursor:
            claim, task_id = claim_from(dict(zip(CLAIM_FIELDS, row, strict=True)))
            yield owner, claim, task_id

    def update_plan(self, task: Task) -> None:
        self._conn.execute(sql.UPDATE_PLAN, {**plan_record(task.plan), "id": task.id})

    def load_tasks(self) -> Iterator[tuple[Task, bool]]:
        """Every task in creation order, and whether its end was handled (a delivery started)."""
        cursor = self._conn.execute(
            f"SELECT {sql.TASK_COLUMNS}, end_handled FROM tasks ORDER BY rowid"
        )
        for row in cursor:
            yield task_from(dict(zip(TASK_FIELDS, row, strict=False))), bool(row[-1])

    def add_account(self, api_key: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO accounts (api_key) VALUES (?)", (api_key,))

    def load_accounts(self) -> list[str]:
        rows = self._conn.execute("SELECT api_key FROM accounts ORDER BY rowid").fetchall()
        return [row[0] for row in rows]

    # -- callback deliveries --------------------------------------------------------------------

    def save_delivery(self, delivery: Delivery) -> None:
        """Insert or update a delivery; an end delivery marks its task's end as handled in the
        same transaction (`CallbackEngine.sink`)."""
        record = delivery_record(delivery)
        values = {**record, "attempts": json.dumps(record["attempts"])}
        new = len(delivery.attempts) == 1 and delivery.attempts[0].sent_at is None
        if new and delivery.trigger == "end":
            self._transaction([(sql.SAVE_DELIVERY, values), (sql.END_HANDLED, (delivery.task.id,))])
        else:
            self._conn.execute(sql.SAVE_DELIVERY, values)
        if new:
            self._deliveries_added += 1
            if self._deliveries_added % TRIM_EVERY == 0:
                self._trim_deliveries()

    def load_deliveries(self, task: Callable[[str], Task | None]) -> list[Delivery]:
        """The kept deliveries, oldest first, tied to their tasks by `task(task_id)`."""
        rows = self._conn.execute(
            "SELECT webhook_id, task_id, url, trigger, outcome, attempts FROM deliveries "
            "ORDER BY rowid"
        ).fetchall()
        deliveries = []
        for webhook_id, task_id, url, trigger, outcome, attempts in rows:
            record = {
                "webhook_id": webhook_id,
                "task_id": task_id,
                "url": url,
                "trigger": trigger,
                "outcome": outcome,
                "attempts": json.loads(attempts),
            }
            delivery = delivery_from(record, task)
            if delivery is not None:  # a reset deletes both in one transaction
                deliveries.append(delivery)
        return deliveries

    def _trim_deliveries(self) -> None:
        self._conn.execute(
            "DELETE FROM deliveries WHERE outcome != 'pending' AND rowid <= "
            "(SELECT max(rowid) FROM deliveries) - ?",
            (self.delivery_limit,),
        )

    # -- uploaded files -------------------------------------------------------------------------

    def insert_file(self, file: StoredFile, content: bytes) -> None:
        self._conn.execute(sql.INSERT_FILE, {**file_record(file), "content": content})

    def delete_file(self, file_id: str) -> None:
        self._conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def load_files(self) -> Iterator[StoredFile]:
        """Every kept file (not its bytes), oldest first."""
        cursor = self._conn.execute(f"SELECT {', '.join(FILE_FIELDS)} FROM files ORDER BY rowid")
        for row in cursor:
            yield file_from(dict(zip(FILE_FIELDS, row, strict=True)))

    def file_content(self, file_id: str) -> bytes | None:
        row = self._conn.execute("SELECT content FROM files WHERE id = ?", (file_id,)).fetchone()
        return None if row is None else bytes(row[0])

    # -- the journal ----------------------------------------------------------------------------

    def append_entry(self, entry: Entry) -> None:
        record = entry_record(entry)
        record["headers"] = json.dumps(record["headers"])
        self._conn.execute(sql.INSERT_ENTRY, record)
        self._journal_added += 1
        if self._journal_added % TRIM_EVERY == 0:
            self._trim_journal()

    def _trim_journal(self) -> None:
        self._conn.execute(
            "DELETE FROM journal WHERE id <= (SELECT max(id) FROM journal) - ?",
            (self.journal_limit,),
        )

    def load_journal(self) -> list[Entry]:
        rows = self._conn.execute(
            f"SELECT {', '.join(ENTRY_FIELDS)} FROM journal ORDER BY id DESC LIMIT ?",
            (self.journal_limit,),
        ).fetchall()
        entries = []
        for row in reversed(rows):
            record = dict(zip(ENTRY_FIELDS, row, strict=True))
            record["headers"] = json.loads(record["headers"] or "[]")
            entries.append(entry_from(record))
        return entries

    def count(self, table: str) -> int:
        """Rows in a table (tests and diagnostics)."""
        if table not in sql.TABLES:
            raise ValueError(f"no table {table!r}")
        return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
