"""The per-account index: which records each account has, kept in a file beside the journal.

Per-account reads (``alarmrx journal query --account``, evidence bundles) look records up by
account and receipt time. An index inside journal.db is written by every commit: one B-tree
leaf per account in the batch, each a whole page in the WAL, synced before the panels are
answered, and copied again by every checkpoint. That was most of what a commit wrote
(docs/performance.md, "The account index moved out of the commit").

So the index lives in ``<journal>-accounts``, a SQLite file of its own that only this module
writes: the consumers follow the journal into it a moment after each commit (``follow``),
in transactions of many records and without fsync. It is derived data. It names the last
record it holds (``journal_seq`` and hash); a reader uses it only if the journal holds that
record with that hash, and scans the records after it (``attach``, ``lookup``). A missing,
damaged or foreign index file is rebuilt from the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from alarmrx.journal.schema import BUSY_TIMEOUT_MS, connect_reader, read_only_uri

log = structlog.get_logger("alarmrx.journal.accounts")

SUFFIX = "-accounts"
PAGE = 20_000  # records read from the journal and indexed per transaction
DELAY_S = 0.2  # after the journal moved, the index waits this long to take more at once
PRUNE_EVERY_S = 3600.0  # how often entries of records retention removed are dropped
ALIAS = "accounts"  # the index's schema name in a reader's connection

_SCHEMA = """
CREATE TABLE IF NOT EXISTS account_index (
    account TEXT NOT NULL,
    received_at TEXT NOT NULL,
    journal_seq INTEGER NOT NULL,
    PRIMARY KEY (account, received_at, journal_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indexed (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    journal_seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    boot TEXT NOT NULL,
    synced INTEGER NOT NULL
);
"""
_NEXT = (
    "SELECT journal_seq, account, received_at, hash FROM records "
    "WHERE journal_seq > ? ORDER BY journal_seq LIMIT ?"
)
_INSERT = "INSERT OR IGNORE INTO account_index (account, received_at, journal_seq) VALUES (?, ?, ?)"
_SET_INDEXED = (
    "INSERT INTO indexed (id, journal_seq, hash, boot, synced) VALUES (1, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET journal_seq = excluded.journal_seq, hash = excluded.hash, "
    "boot = excluded.boot, synced = excluded.synced"
)
_INDEXED = "SELECT journal_seq, hash, boot, synced FROM {schema}indexed"
_HASH_AT = "SELECT hash FROM records WHERE journal_seq = ?"
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def index_path(journal: Path) -> Path:
    """Where the index of the journal at ``journal`` lives."""
    return journal.with_name(journal.name + SUFFIX)


def _boot() -> str:
    """This boot of the machine: the index's unsynced writes survive while it lasts."""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _unusable(row: tuple[Any, ...] | None, journal: sqlite3.Connection) -> str | None:
    """Why an index whose ``indexed`` row is ``row`` cannot be used with ``journal`` (a
    connection to it), or None.

    It is written without fsync, so only two states are sound: written during this boot
    (the kernel still holds what it wrote) or synced at a clean stop.
    """
    if row is None:
        return "empty"
    journal_seq, hash_, boot, synced = row
    if not synced and boot != _boot():
        return "not synced before the machine restarted"
    found = journal.execute(_HASH_AT, (journal_seq,)).fetchone()
    if found is None or found[0] != hash_:
        return "not this journal's"
    return None


class _Waits(Protocol):
    async def wait_for(self, journal_seq: int) -> None: ...


class AccountIndexer:
    """The index's only writer: ``open``, ``catch_up`` as the journal grows, ``close``."""

    def __init__(
        self,
        journal: Path,
        reader: sqlite3.Connection,
        index: sqlite3.Connection,
        indexed: tuple[int, str] | None = None,
    ) -> None:
        self.journal = journal
        self._reader, self._index = reader, index
        self._boot = _boot()
        # the last record indexed, its journal_seq and hash
        self.position, self._hash = indexed if indexed is not None else (0, "")
        if indexed is not None:
            # From here on the file holds unsynced writes of this boot.
            index.execute(_SET_INDEXED, (*indexed, self._boot, 0))
        # ``follow`` runs each step on a helper thread; a step cancelled there still runs to
        # its end, and ``close`` waits for it.
        self._busy = threading.Lock()

    @classmethod
    def open(cls, journal: Path) -> AccountIndexer:
        """Open the index of ``journal``, starting it afresh when it cannot be used."""
        reader = connect_reader(journal, live=True)
        try:
            index = _open_index(index_path(journal), reader)
        except BaseException:
            reader.close()
            raise
        row = index.execute(_INDEXED.format(schema="")).fetchone()
        return cls(journal, reader, index, None if row is None else (row[0], row[1]))

    def catch_up(self) -> int:
        """Index up to ``PAGE`` records after ``position``, in one transaction; return how
        many were read."""
        with self._busy:
            return self._catch_up()

    def _catch_up(self) -> int:
        rows = self._reader.execute(_NEXT, (self.position, PAGE)).fetchall()
        if not rows:
            return 0
        last_seq, _, _, last_hash = rows[-1]
        index = self._index
        index.execute("BEGIN")
        try:
            index.executemany(
                _INSERT, [(account, at, seq) for seq, account, at, _ in rows if account]
            )
            index.execute(_SET_INDEXED, (last_seq, last_hash, self._boot, 0))
            index.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                index.execute("ROLLBACK")
            raise
        self.position, self._hash = last_seq, last_hash
        return len(rows)

    def forget_pruned(self) -> int:
        """Drop the entries of records retention removed from the journal; return how many."""
        with self._busy:
            return self._forget_pruned()

    def _forget_pruned(self) -> int:
        first = self._reader.execute("SELECT min(journal_seq) FROM records").fetchone()[0]
        if first is None:
            return 0
        deleted = self._index.execute("DELETE FROM account_index WHERE journal_seq < ?", (first,))
        return deleted.rowcount

    def close(self) -> None:
        """Sync the index and mark it so, then close: it is usable after a reboot too."""
        with self._busy:
            self._close()

    def _close(self) -> None:
        index = self._index
        # Not synced (a full disk, say), it stays marked unsynced: rebuilt after a reboot.
        with contextlib.suppress(sqlite3.Error):
            if self.position:
                index.execute("PRAGMA synchronous = FULL")
                index.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                index.execute(_SET_INDEXED, (self.position, self._hash, self._boot, 1))
                index.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        index.close()
        self._reader.close()


def _open_index(path: Path, journal: sqlite3.Connection) -> sqlite3.Connection:
    """The index file, checked against the journal; created anew when it cannot be used."""
    if path.exists():
        try:
            index = _connect(path)
            reason = _unusable(index.execute(_INDEXED.format(schema="")).fetchone(), journal)
        except sqlite3.DatabaseError as err:
            reason = f"unreadable: {err}"
        else:
            if reason in (None, "empty"):
                return index
            index.close()
        log.warning("account_index_rebuilt", path=str(path), reason=reason)
        for file in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm"))):
            file.unlink(missing_ok=True)
    return _connect(path)


def _connect(path: Path) -> sqlite3.Connection:
    # No fsync while running: the index is derived, and ``_unusable`` says when to rebuild.
    index = sqlite3.connect(
        path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
    )  # used by one thread at a time, not always its creator (``follow``)
    try:
        index.execute("PRAGMA journal_mode = WAL")
        index.execute("PRAGMA synchronous = OFF")
        index.executescript(_SCHEMA)
    except BaseException:
        index.close()
        raise
    return index


async def follow(
    journal: _Waits, path: Path, progress: Callable[[int], None] | None = None
) -> None:
    """Keep the index of the journal at ``path`` up with it until cancelled (the consumers'
    task): a page at a time while behind, then a batch ``DELAY_S`` after the head moves.
    ``progress`` is told the last journal_seq indexed whenever it moves."""
    indexer = await asyncio.to_thread(AccountIndexer.open, path)
    log.info("account_index_opened", path=str(index_path(path)), position=indexer.position)
    tell = progress or (lambda _: None)
    tell(indexer.position)
    pruned_at = 0.0
    try:
        while True:
            read = await asyncio.to_thread(indexer.catch_up)
            if read:
                tell(indexer.position)
            if read == PAGE:
                continue
            if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                await asyncio.to_thread(indexer.forget_pruned)
                pruned_at = time.monotonic()
            await journal.wait_for(indexer.position)
            await asyncio.sleep(DELAY_S)
    finally:
        await asyncio.to_thread(indexer.close)


# Conditions on ``records AS r`` with their parameters, each read in ``journal_seq`` order.
Parts = tuple[tuple[str, tuple[Any, ...]], ...]


def lookup(
    account: str | None, bounds: Sequence[tuple[str, str]] = (), indexed: int | None = None
) -> Parts:
    """How to read the records of ``account`` (None: of every account): the parts, read one
    after the other, give them in ``journal_seq`` order. ``bounds`` are conditions on the
    receipt time, each an operator and a value: ``(">=", since)``, ``("<", until)``.
    ``indexed`` is what ``attach`` returned on the reading connection: with it, the records
    the index holds, then a scan of those after its last one; without, a scan of every record.
    """
    times = [f"received_at {op} ?" for op, _ in bounds]
    values = tuple(value for _, value in bounds)
    if account is None:
        return ((" AND ".join(f"r.{time}" for time in times) or "1", values),)
    where = " AND ".join(["r.account = ?", *(f"r.{time}" for time in times)])
    params = (account, *values)
    if indexed is None:
        return ((where, params),)
    inner = " AND ".join(["account = ?", "journal_seq <= ?", *times])
    select = f"SELECT journal_seq FROM {ALIAS}.account_index WHERE {inner}"  # noqa: S608 - names and operators are this module's; values are parameters
    return (
        (f"r.journal_seq IN ({select}) AND {where}", (account, indexed, *values, *params)),
        (f"r.journal_seq > ? AND {where}", (indexed, *params)),
    )


def attach(conn: sqlite3.Connection, journal: Path) -> int | None:
    """Attach the index of ``journal`` to ``conn`` (a reader of it, outside any transaction)
    as ``accounts``, if it exists and can be used: return the last journal_seq it holds."""
    path = index_path(journal)
    if not path.exists():
        return None
    try:
        conn.execute(f"ATTACH DATABASE ? AS {ALIAS}", (read_only_uri(path),))
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(_INDEXED.format(schema=f"{ALIAS}.")).fetchone()
        if _unusable(row, conn) is None:
            return int(row[0])
    except sqlite3.Error:
        pass
    with contextlib.suppress(sqlite3.Error):
        conn.execute(f"DETACH DATABASE {ALIAS}")
    return None
