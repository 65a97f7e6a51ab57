"""The SQLite file's layout (`SCHEMA`, at `SCHEMA_VERSION`), the steps that bring an older file
up to it (`MIGRATIONS`), and the statements `sqlite_file.Database` writes through. The columns
are the fields of `storage.records`, by name."""

from __future__ import annotations

from .records import CLAIM_FIELDS, ENTRY_FIELDS, FILE_FIELDS, PLAN_FIELDS, TASK_FIELDS

#: `PRAGMA user_version` of the layout below; another version is refused, not guessed at.
#: The columns are the fields of `storage.records`, by name.
SCHEMA_VERSION = 6
#: Idempotency keys bound to tasks (layout 4, which also journals requests' headers).
CLAIMS = """
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
FILES = """
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
MIGRATIONS = {
    1: (
        "ALTER TABLE tasks ADD COLUMN curve TEXT; "
        "ALTER TABLE tasks ADD COLUMN callback_scenario TEXT; "
        "ALTER TABLE journal ADD COLUMN request_id TEXT;"
    ),
    2: "ALTER TABLE tasks RENAME COLUMN credits TO price;",
    3: CLAIMS
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
    5: FILES,
}
SCHEMA = (
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
    + CLAIMS
    + FILES
)

#: What a reset empties.
TABLES = ("tasks", "accounts", "deliveries", "journal", "claims", "files")
TASK_COLUMNS = ", ".join(TASK_FIELDS)
INSERT_TASK = (
    f"INSERT INTO tasks ({TASK_COLUMNS}) VALUES ({', '.join(':' + f for f in TASK_FIELDS)})"
)
BIND_CLAIM = (
    f"INSERT OR REPLACE INTO claims (owner, {', '.join(CLAIM_FIELDS)}) "
    f"VALUES (:owner, {', '.join(':' + f for f in CLAIM_FIELDS)})"
)
UPDATE_PLAN = f"UPDATE tasks SET {', '.join(f'{f} = :{f}' for f in PLAN_FIELDS)} WHERE id = :id"
SAVE_DELIVERY = (
    "INSERT INTO deliveries (webhook_id, task_id, url, trigger, outcome, attempts) "
    "VALUES (:webhook_id, :task_id, :url, :trigger, :outcome, :attempts) ON CONFLICT "
    "(webhook_id) DO UPDATE SET outcome = excluded.outcome, attempts = excluded.attempts"
)
END_HANDLED = "UPDATE tasks SET end_handled = 1 WHERE id = ? AND end_handled = 0"
INSERT_ENTRY = (
    f"INSERT INTO journal ({', '.join(ENTRY_FIELDS)}) "
    f"VALUES ({', '.join(':' + f for f in ENTRY_FIELDS)})"
)
INSERT_FILE = (
    f"INSERT INTO files ({', '.join(FILE_FIELDS)}, content) "
    f"VALUES ({', '.join(':' + f for f in FILE_FIELDS)}, :content)"
)
SAVE_CLOCK = (
    "INSERT INTO clock (id, kind, speed, wall, sim) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) "
    "DO UPDATE SET kind = excluded.kind, speed = excluded.speed, wall = excluded.wall, "
    "sim = excluded.sim"
)
