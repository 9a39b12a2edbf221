"""Between SQLite rows and records: the one SELECT shape every reader uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from alarmrx.journal.canonical import Content
from alarmrx.journal.records import Record, RecordKind

SELECT_RECORDS = (
    "SELECT r.journal_seq, r.received_at, r.kind, r.account, r.peer, r.transport, r.reply, "
    "r.priority, r.body, r.raw, r.prev_hash, r.hash, COALESCE(p.count, 0) "
    "FROM records AS r LEFT JOIN repeats AS p ON p.journal_seq = r.journal_seq"
)
SELECT_CONTENT = (
    "SELECT journal_seq, received_at, kind, account, peer, transport, reply, priority, body, "
    "raw, prev_hash, hash FROM records"
)
FETCH_SIZE = 500
_new = object.__new__
_set = object.__setattr__  # Record is frozen
_fromisoformat = datetime.fromisoformat
_KINDS = {kind.value: kind for kind in RecordKind}  # a lookup, not ``EnumType.__call__``
# A record as stored: the ``SELECT_RECORDS`` columns but the repeats count.
StoredRow = tuple[
    int, str, str, str | None, str | None, str | None, str | None, int, str, bytes, str, str
]


def record_from_row(row: tuple[Any, ...]) -> Record:
    """A ``SELECT_RECORDS`` row as a ``Record``."""
    return _record(row, row[12])


def record_from_stored(row: StoredRow) -> Record:
    """A record as a commit stored it, before any repeat was counted."""
    return _record(row, 0)


def _record(row: tuple[Any, ...], repeats: int) -> Record:
    """The record of ``row``, its body left as stored until it is used (``Record.body``).

    Every field but ``body`` is set here without ``Record.__init__`` (a frozen dataclass's
    ``__init__`` sets each field through a global lookup and a call): this runs for every
    record the consumers read. ``tests/unit/journal/test_rows.py`` holds it to the fields.
    """
    seq, received_at, kind, account, peer, transport, reply, priority, body, raw = row[:10]
    record = _new(Record)
    _set(record, "journal_seq", seq)
    _set(record, "kind", _KINDS.get(kind) or RecordKind(kind))
    _set(record, "received_at", _fromisoformat(received_at))
    _set(record, "account", account)
    _set(record, "raw", bytes(raw))
    _set(record, "peer", peer)
    _set(record, "transport", transport)
    _set(record, "reply", reply)
    _set(record, "priority", priority)
    _set(record, "hash", row[11])
    _set(record, "prev_hash", row[10])
    _set(record, "repeats", repeats)
    _set(record, "chain", None)
    _set(record, "chain_seq", None)
    _set(record, "typed", None)
    _set(record, "stored_body", body)  # ``body`` is decoded from it when first read
    return record


def content_from_row(row: tuple[Any, ...]) -> Content:
    """A ``SELECT_CONTENT`` row's hashed fields, exactly as stored."""
    seq, received_at, kind, account, peer, transport, reply, priority, body, raw = row[:10]
    return Content(
        journal_seq=seq,
        received_at=received_at,
        kind=kind,
        account=account,
        peer=peer,
        transport=transport,
        reply=reply,
        priority=priority,
        body=body,
        raw=bytes(raw),
    )


def iterate(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    """Rows in chunks, so a long journal is never held in memory at once."""
    while rows := cursor.fetchmany(FETCH_SIZE):
        yield from rows
