"""``alarmrx journal migrate``: the schema, and a SQLite journal copied into PostgreSQL.

The copy keeps the old chain verifiable: every record goes into the chain ``chain`` (the
node's ``receiver.id``) with its SQLite ``journal_seq`` as ``chain_seq`` and its hashes
unchanged, so the same hashes verify. A CHECKPOINT then closes the copied part, naming the
SQLite head (seq and hash) and the file; the node's new records chain onto that checkpoint.
The SQLite file is only read. It all happens in one transaction: a failed copy leaves
nothing behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.chain import EMPTY, Head, link, prepare
from alarmrx.journal.errors import JournalError
from alarmrx.journal.postgres.schema import SCHEMA, check_version_sync, migrate
from alarmrx.journal.postgres.writer import INSERT_RECORDS
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.journal.rows import FETCH_SIZE
from alarmrx.journal.schema import connect_reader
from alarmrx.journal.verify import verify_chain

Conn = psycopg.Connection[tuple[Any, ...]]

_SQLITE_ROWS = (
    "SELECT journal_seq, received_at, kind, account, peer, transport, reply, priority, body, "
    "raw, prev_hash, hash, dedupe_key FROM records ORDER BY journal_seq"
)
_SQLITE_KEYS = (
    "SELECT dedupe_key, received_at FROM records "
    "WHERE dedupe_key IS NOT NULL AND received_at >= ? ORDER BY journal_seq"
)
_SQLITE_REPEATS = "SELECT journal_seq, count, last_received_at FROM repeats"
_SQLITE_CURSORS = "SELECT name, journal_seq FROM cursors"
_CHAIN_USED = f"SELECT count(*) FROM {SCHEMA}.records WHERE chain = %s"
_ANY_RECORD = f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.records)"
_LOCK_CHAIN = f"SELECT chain_seq FROM {SCHEMA}.chain_heads WHERE chain = %s FOR UPDATE"
_SEQ_OF = (
    f"SELECT chain_seq, journal_seq FROM {SCHEMA}.records WHERE chain = %s AND chain_seq = ANY(%s)"
)
_KEYS = (
    f"INSERT INTO {SCHEMA}.dedupe_keys (key, received_at) "
    "SELECT * FROM unnest(%b::bytea[], %b::timestamptz[]) ON CONFLICT (key) DO NOTHING"
)
_REPEATS = (
    f"INSERT INTO {SCHEMA}.repeats (journal_seq, count, last_received_at) VALUES (%s, %s, %s)"
)
_CURSOR = f"INSERT INTO {SCHEMA}.cursors (name, journal_seq) VALUES (%s, %s)"
_NEW_HEAD = (
    f"INSERT INTO {SCHEMA}.chain_heads (chain, chain_seq, hash) VALUES (%s, %s, %s) "
    "ON CONFLICT (chain) DO NOTHING"
)
_HEAD = (
    f"INSERT INTO {SCHEMA}.chain_heads (chain, chain_seq, hash) VALUES (%s, %s, %s) "
    "ON CONFLICT (chain) DO UPDATE SET chain_seq = excluded.chain_seq, hash = excluded.hash"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyReport:
    """What ``copy_sqlite`` did; ``checkpoint_seq`` is None when the file had no record."""

    records: int
    chain: str
    source_last_seq: int = 0
    checkpoint_seq: int | None = None
    cursors: int = 0


def migrate_schema(conninfo: str) -> tuple[int, int]:
    """Create or upgrade the schema; the versions before and after."""
    with psycopg.connect(conninfo) as conn:
        return migrate(conn)


def copy_sqlite(
    conninfo: str, path: Path, *, chain: str, dedupe_window: timedelta, now: datetime
) -> CopyReport:
    """Copy the SQLite journal at ``path`` into the empty chain ``chain``. Refuses a chain
    that holds records (a copy made already, or a node that has written) and a SQLite
    chain that does not verify."""
    report = verify_chain(path)
    if not report.ok:
        raise JournalError(
            f"{path} does not verify ({report.problem} at record {report.first_bad_seq}): "
            "nothing copied"
        )
    source = connect_reader(path)
    try:
        with psycopg.connect(conninfo) as conn:
            check_version_sync(conn)
            with conn.transaction():
                return _copy(conn, source, path=path, chain=chain, window=dedupe_window, now=now)
    finally:
        source.close()


def _copy(
    conn: Conn,
    source: sqlite3.Connection,
    *,
    path: Path,
    chain: str,
    window: timedelta,
    now: datetime,
) -> CopyReport:
    conn.execute("SELECT pg_current_xact_id()")  # before any journal_seq: see horizon.py
    _claim_chain(conn, chain)
    empty_before = conn.execute(_ANY_RECORD).fetchone() == (False,)
    head, count = EMPTY, 0
    for rows in _chunks(source.execute(_SQLITE_ROWS)):
        conn.execute(INSERT_RECORDS, (chain, *_columns(rows)))
        head, count = Head(rows[-1][0], rows[-1][11], rows[-1][1]), count + len(rows)
    if count == 0:
        return CopyReport(records=0, chain=chain)
    seqs = _journal_seqs(conn, source, chain)
    _copy_repeats(conn, source, seqs)
    _copy_keys(conn, source, head, window)
    cursors = _copy_cursors(conn, source, seqs) if empty_before else 0
    checkpoint = _checkpoint(conn, chain, head, path=path, count=count, now=now)
    return CopyReport(
        records=count,
        chain=chain,
        source_last_seq=head.journal_seq,
        checkpoint_seq=checkpoint,
        cursors=cursors,
    )


def _claim_chain(conn: Conn, chain: str) -> None:
    conn.execute(_NEW_HEAD, (chain, EMPTY.journal_seq, EMPTY.hash))
    conn.execute(_LOCK_CHAIN, (chain,))
    used = conn.execute(_CHAIN_USED, (chain,)).fetchone()
    if used and used[0]:
        raise JournalError(f"chain {chain!r} already holds {used[0]} records: nothing copied")


def _chunks(cursor: sqlite3.Cursor) -> Iterator[list[tuple[Any, ...]]]:
    while rows := cursor.fetchmany(FETCH_SIZE):
        yield [(*row[:9], bytes(row[9]), *row[10:12], _blob(row[12])) for row in rows]


def _blob(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(column) for column in zip(*rows, strict=True)]


def _journal_seqs(conn: Conn, source: sqlite3.Connection, chain: str) -> dict[int, int]:
    """SQLite ``journal_seq`` -> the copy's PostgreSQL ``journal_seq``, for the records
    that repeats and cursors name."""
    wanted = [row[0] for row in source.execute(_SQLITE_REPEATS)]
    wanted += [row[1] for row in source.execute(_SQLITE_CURSORS)]
    found = conn.execute(_SEQ_OF, (chain, wanted)).fetchall()
    return {int(old): int(new) for old, new in found}


def _copy_repeats(conn: Conn, source: sqlite3.Connection, seqs: dict[int, int]) -> None:
    rows = [(seqs[seq], count, at) for seq, count, at in source.execute(_SQLITE_REPEATS)]
    if rows:
        conn.cursor().executemany(_REPEATS, rows)


def _copy_keys(conn: Conn, source: sqlite3.Connection, head: Head, window: timedelta) -> None:
    """The keys of the last window, so a retransmission right after the move is known."""
    assert head.received_at is not None  # noqa: S101 - set from a stored record
    cutoff = datetime.fromisoformat(head.received_at) - window
    keys: dict[bytes, datetime] = {}
    for key, received_at in source.execute(_SQLITE_KEYS, (format_received_at(cutoff),)):
        keys[bytes(key)] = datetime.fromisoformat(received_at)
    if keys:
        conn.execute(_KEYS, (list(keys), list(keys.values())))


def _copy_cursors(conn: Conn, source: sqlite3.Connection, seqs: dict[int, int]) -> int:
    """Each consumer's position, moved to the copy's ``journal_seq`` (0 stays 0)."""
    rows = [(name, seqs.get(seq, 0)) for name, seq in source.execute(_SQLITE_CURSORS)]
    if rows:
        conn.cursor().executemany(_CURSOR, rows)
    return len(rows)


def _checkpoint(
    conn: Conn, chain: str, head: Head, *, path: Path, count: int, now: datetime
) -> int:
    """Chain the CHECKPOINT that closes the copied part; its ``chain_seq``."""
    body = {
        "migrated_from": "sqlite",
        "source": str(path),
        "source_last_seq": head.journal_seq,
        "source_last_hash": head.hash,
        "records": count,
    }
    record = NewRecord(kind=RecordKind.CHECKPOINT, received_at=now, body=body)
    row, new_head = link(head, prepare(record))
    conn.execute(INSERT_RECORDS, (chain, *_columns([row])))
    conn.execute(_HEAD, (chain, new_head.journal_seq, new_head.hash))
    return new_head.journal_seq
