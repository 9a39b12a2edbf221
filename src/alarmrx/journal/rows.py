"""Between SQLite rows and records: the one SELECT shape every reader uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
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
_fromisoformat = datetime.fromisoformat
_KINDS = {kind.value: kind for kind in RecordKind}  # a lookup, not ``EnumType.__call__``


def _setter(name: str) -> Callable[[Record, Any], None]:
    """The setter of ``Record``'s slot ``name``: ``Record`` is frozen, and the slot's own
    descriptor sets it without looking the name up on the class, as ``setattr`` would."""
    slot: Any = Record.__dict__[name]
    setter: Callable[[Record, Any], None] = slot.__set__
    return setter


_SEQ, _KIND, _AT, _ACCOUNT, _RAW = map(
    _setter, ("journal_seq", "kind", "received_at", "account", "raw")
)
_PEER, _TRANSPORT, _REPLY, _PRIORITY = map(_setter, ("peer", "transport", "reply", "priority"))
_HASH, _PREV_HASH, _REPEATS = map(_setter, ("hash", "prev_hash", "repeats"))
_CHAIN, _CHAIN_SEQ, _TYPED, _STORED = map(_setter, ("chain", "chain_seq", "typed", "stored_body"))
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
    ``__init__`` sets each field through a global lookup and a call), each by its slot's
    setter: this runs for every record the consumers read.
    ``tests/unit/journal/test_rows.py`` holds it to the fields.
    """
    seq, received_at, kind, account, peer, transport, reply, priority, body, raw = row[:10]
    record = _new(Record)
    _SEQ(record, seq)
    _KIND(record, _KINDS.get(kind) or RecordKind(kind))
    _AT(record, _fromisoformat(received_at))
    _ACCOUNT(record, account)
    _RAW(record, bytes(raw))
    _PEER(record, peer)
    _TRANSPORT(record, transport)
    _REPLY(record, reply)
    _PRIORITY(record, priority)
    _HASH(record, row[11])
    _PREV_HASH(record, row[10])
    _REPEATS(record, repeats)
    _CHAIN(record, None)
    _CHAIN_SEQ(record, None)
    _TYPED(record, None)
    _STORED(record, body)  # ``body`` is decoded from it when first read
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
