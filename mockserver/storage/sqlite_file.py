"""The SQLite file of `--db PATH`: its layout, the steps that bring an older one up to it, and
the statements the SQLite store writes through (`Database`). What is kept and when: `sqlite`."""

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
from .base import ClockState
from .records import (
    CLAIM_FIELDS,
    ENTRY_FIELDS,
    FILE_FIELDS,
    PLAN_FIELDS,
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

#: `PRAGMA user_version` of the layout below; another version is refused, not guessed at.
#: The columns are the fields of `storage.records`, by name.
SCHEMA_VERSION = 6
#: Idempotency keys bound to tasks (layout 4, which also journals requests' headers).
_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires REAL NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
"""
#: Uploaded files, their bytes beside their fields (layout 6).
_FILES = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    file_name TEXT NOT NULL,
    original_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    upload_path TEXT NOT NULL,
    uploaded REAL NOT NULL,
    base_url TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    content BLOB NOT NULL
);
"""
#: What brings an older layout up to this one, a step at a time, at startup (2: release 497264d).
_MIGRATIONS = {
    1: (
        "ALTER TABLE tasks ADD COLUMN curve TEXT; "
        "ALTER TABLE tasks ADD COLUMN callback_scenario TEXT; "
        "ALTER TABLE journal ADD COLUMN request_id TEXT;"
    ),
    2: "ALTER TABLE tasks RENAME COLUMN credits TO price;",
    3: _CLAIMS
    + (
        "ALTER TABLE journal ADD COLUMN headers TEXT; "
        "ALTER TABLE journal ADD COLUMN replayed INTEGER;"
    ),
    # what a task's model says of it (record format 3); NULL in a task kept before: the one
    # model's values (`records.PRE_MODEL_FIELDS`)
    4: (
        "ALTER TABLE tasks ADD COLUMN billing_rule TEXT; "
        "ALTER TABLE tasks ADD COLUMN object TEXT; "
        "ALTER TABLE tasks ADD COLUMN output_type TEXT;"
    ),
    5: _FILES,
}
#: Journal rows and delivery rows are trimmed to their limit once per this many new ones.
TRIM_EVERY = 1_000

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kind TEXT NOT NULL,
    speed REAL,
    wall REAL NOT NULL,
    sim REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (api_key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    aspect_ratio TEXT NOT NULL,
    duration INTEGER NOT NULL,
    quality TEXT NOT NULL,
    image_urls TEXT,
    callback_url TEXT,
    created REAL NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    failure_code TEXT,
    failure_message TEXT,
    failure_progress INTEGER,
    stopped REAL,
    price REAL NOT NULL,
    base_url TEXT NOT NULL,
    end_handled INTEGER NOT NULL DEFAULT 0,
    curve TEXT,
    callback_scenario TEXT,
    billing_rule TEXT,
    object TEXT,
    output_type TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    webhook_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    url TEXT NOT NULL,
    trigger TEXT NOT NULL,
    outcome TEXT NOT NULL,
    attempts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    api_key TEXT,
    status INTEGER NOT NULL,
    scenario TEXT,
    request_id TEXT,
    headers TEXT,
    replayed INTEGER
);
"""
    + _CLAIMS
    + _FILES
)

#: What a reset empties.
_TABLES = ("tasks", "accounts", "deliveries", "journal", "claims", "files")
_TASK_COLUMNS = ", ".join(TASK_FIELDS)
_INSERT_TASK = (
    f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({', '.join(':' + f for f in TASK_FIELDS)})"
)
_BIND_CLAIM = (
    f"INSERT OR REPLACE INTO claims (owner, {', '.join(CLAIM_FIELDS)}) "
    f"VALUES (:owner, {', '.join(':' + f for f in CLAIM_FIELDS)})"
)
_UPDATE_PLAN = f"UPDATE tasks SET {', '.join(f'{f} = :{f}' for f in PLAN_FIELDS)} WHERE id = :id"
_SAVE_DELIVERY = (
    "INSERT INTO deliveries (webhook_id, task_id, url, trigger, outcome, attempts) "
    "VALUES (:webhook_id, :task_id, :url, :trigger, :outcome, :attempts) ON CONFLICT "
    "(webhook_id) DO UPDATE SET outcome = excluded.outcome, attempts = excluded.attempts"
)
_END_HANDLED = "UPDATE tasks SET end_handled = 1 WHERE id = ? AND end_handled = 0"
_INSERT_ENTRY = (
    f"INSERT INTO journal ({', '.join(ENTRY_FIELDS)}) "
    f"VALUES ({', '.join(':' + f for f in ENTRY_FIELDS)})"
)
_INSERT_FILE = (
    f"INSERT INTO files ({', '.join(FILE_FIELDS)}, content) "
    f"VALUES ({', '.join(':' + f for f in FILE_FIELDS)}, :content)"
)
_SAVE_CLOCK = (
    "INSERT INTO clock (id, kind, speed, wall, sim) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) "
    "DO UPDATE SET kind = excluded.kind, speed = excluded.speed, wall = excluded.wall, "
    "sim = excluded.sim"
)


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
        known = version == SCHEMA_VERSION or version in _MIGRATIONS
        if not (known or (version == 0 and not tables)):
            raise DatabaseError(
                f"{self.path}: not an evolink-mock database of layout {SCHEMA_VERSION} "
                f"(user_version {version}, {tables} objects)"
            )
        if version == 0:
            conn.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        while version in _MIGRATIONS:
            script = _MIGRATIONS[version]
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
            if table not in _TABLES:
                raise ValueError(f"no table {table!r}")
        self._transaction([(f"DELETE FROM {table}", ()) for table in tables or _TABLES])

    # -- the clock ------------------------------------------------------------------------------

    def save_clock(self, clock: Clock) -> None:
        """The virtual clock's time, or the real clock's anchor: simulated now at wall now."""
        speed = clock.speed if isinstance(clock, RealClock) else None
        self._conn.execute(_SAVE_CLOCK, (clock.kind, speed, time.time(), clock.now()))

    def stored_clock(self) -> ClockState | None:
        """The clock as last saved, if ever."""
        row = self._conn.execute("SELECT kind, speed, wall, sim FROM clock").fetchone()
        return None if row is None else ClockState(row[0], row[1], row[2], row[3])

    # -- tasks and accounts ---------------------------------------------------------------------

    def insert_task(self, task: Task, claim: Claim | None = None) -> None:
        """A new task, and the idempotency key it binds (in the same transaction)."""
        if claim is None:
            self._conn.execute(_INSERT_TASK, task_record(task))
            return
        bound = {"owner": task.owner, **claim_record(claim, task.id)}
        self._transaction([(_INSERT_TASK, task_record(task)), (_BIND_CLAIM, bound)])

    def load_claims(self) -> Iterator[tuple[str, Claim, str]]:
        """Every bound key: its owner, the claim that bound it, and its task's id."""
        cursor = self._conn.execute(f"SELECT owner, {', '.join(CLAIM_FIELDS)} FROM claims")
        for owner, *row in cursor:
            claim, task_id = claim_from(dict(zip(CLAIM_FIELDS, row, strict=True)))
            yield owner, claim, task_id

    def update_plan(self, task: Task) -> None:
        self._conn.execute(_UPDATE_PLAN, {**plan_record(task.plan), "id": task.id})

    def load_tasks(self) -> Iterator[tuple[Task, bool]]:
        """Every task in creation order, and whether its end was handled (a delivery started)."""
        cursor = self._conn.execute(
            f"SELECT {_TASK_COLUMNS}, end_handled FROM tasks ORDER BY rowid"
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
            self._transaction([(_SAVE_DELIVERY, values), (_END_HANDLED, (delivery.task.id,))])
        else:
            self._conn.execute(_SAVE_DELIVERY, values)
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
        self._conn.execute(_INSERT_FILE, {**file_record(file), "content": content})

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
        self._conn.execute(_INSERT_ENTRY, record)
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
        if table not in _TABLES:
            raise ValueError(f"no table {table!r}")
        return int(self._conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
