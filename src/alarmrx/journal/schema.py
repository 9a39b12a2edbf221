"""The SQLite file: tables, pragmas and how each kind of user connects to it.

``records`` holds the chain. ``repeats`` (retransmission counters), ``cursors`` (each
consumer's position) and ``chain_head`` (the last seq and hash, written in the same
transaction as the records) live outside the hashed content.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alarmrx.journal.errors import JournalError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000

_TABLES = """
CREATE TABLE IF NOT EXISTS records (
    journal_seq INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    account TEXT,
    peer TEXT,
    transport TEXT,
    reply TEXT,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL,
    raw BLOB NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    dedupe_key BLOB
);
CREATE INDEX IF NOT EXISTS records_received_at ON records (received_at);
CREATE TABLE IF NOT EXISTS repeats (
    journal_seq INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    last_received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT PRIMARY KEY,
    journal_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    journal_seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""

INSERT_RECORD = (
    "INSERT INTO records (journal_seq, received_at, kind, account, peer, transport, reply, "
    "priority, body, raw, prev_hash, hash, dedupe_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SET_HEAD = (
    "INSERT INTO chain_head (id, journal_seq, hash) VALUES (1, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET journal_seq = excluded.journal_seq, hash = excluded.hash"
)


def connect_writer(path: Path, *, fsync: bool) -> sqlite3.Connection:
    """A read-write connection in WAL mode; creates the file and tables when missing.

    ``check_same_thread`` is off: one thread at a time uses it, but not always its creator.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )  # opened by the loop's helper thread, then used by the writer thread alone
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'OFF'}")
        _ensure_schema(conn)
        # Older journals carry their per-account index inside: it now lives beside the
        # file (``accounts.py``), out of every commit.
        conn.execute("DROP INDEX IF EXISTS records_account")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_reader(path: Path, *, live: bool = False) -> sqlite3.Connection:
    """A connection that only reads; it may live in another thread than its creator's.

    Unless ``live`` (the daemon's own reader, beside its writer): when no writer has the
    journal open (it keeps ``-wal`` and ``-shm`` files beside it), the file is read as it is
    (``immutable``), creating neither: a reader running as another user (root, in an
    operator's shell) would leave files the daemon's user cannot open.
    """
    if not path.exists():
        raise JournalError(f"no journal at {path}")
    conn = sqlite3.connect(
        read_only_uri(path, live=live),
        uri=True,
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        conn.close()
        raise JournalError(f"{path} is not an alarmrx journal: {err}") from None
    if version != SCHEMA_VERSION:
        conn.close()
        raise JournalError(f"{path} is not an alarmrx journal (schema version {version})")
    return conn


def read_only_uri(path: Path, *, live: bool = False) -> str:
    """The URI ``connect_reader`` opens ``path`` with (see there for ``live``)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    sidecars = (path.with_name(path.name + end) for end in ("-wal", "-shm"))
    if not live and not any(file.exists() for file in sidecars):
        uri += "&immutable=1"
    return uri


def _ensure_schema(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version != 0:
        raise JournalError(f"journal schema version {version}; this alarmrx reads {SCHEMA_VERSION}")
    # One script, one transaction: CREATE … IF NOT EXISTS keeps a concurrent creator harmless.
    conn.executescript(f"BEGIN IMMEDIATE;{_TABLES}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
