"""Reading the journal for an export: records exactly as stored, in one read-only snapshot.

``Snapshot`` is what an export asks of a journal; ``snapshot(path)`` answers it from the
SQLite file (its one chain is chain None), ``source_pg.snapshot(conninfo)`` from PostgreSQL
(one chain per node). Uses the journal's own row shape (``journal.rows.SELECT_CONTENT``) and
reader connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from alarmrx.evidence.sealed import Sealed
from alarmrx.journal.accounts import attach, lookup
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.heads import body_heads
from alarmrx.journal.records import RecordKind
from alarmrx.journal.rows import SELECT_CONTENT, content_from_row, iterate
from alarmrx.journal.schema import connect_reader


@dataclass(frozen=True, slots=True)
class AnchorAt:
    """An ANCHOR record: its ``journal_seq``, its own chain and place, and the head it names
    for each chain (``chain -> head_seq``)."""

    journal_seq: int
    chain: str | None
    seq: int
    heads: Mapping[str | None, int]


def anchor_at(journal_seq: int, chain: str | None, seq: int, body: str) -> AnchorAt | None:
    """The ANCHOR record's heads; None when its body names none."""
    heads = body_heads(json.loads(body), chain)
    if heads is None:
        return None
    return AnchorAt(journal_seq, chain, seq, {h.chain: h.head_seq for h in heads})


class Snapshot(Protocol):
    """One read transaction over a journal."""

    @property
    def chains(self) -> bool:
        """True when records live in several chains (PostgreSQL)."""
        ...

    def account_records(self, account: str, since: datetime, until: datetime) -> list[Sealed]:
        """The account's records received in ``[since, until)``, in ``journal_seq`` order."""
        ...

    def between(self, chain: str | None, first: int, last: int) -> list[Sealed]:
        """The records of ``chain`` from place ``first`` to ``last``, both included."""
        ...

    def anchors_from(self, journal_seq: int) -> list[AnchorAt]:
        """Every anchor record after ``journal_seq``, in ``journal_seq`` order."""
        ...


def _sealed(row: tuple[Any, ...]) -> Sealed:
    return Sealed(content_from_row(row), row[10], row[11])


class SqliteSnapshot:
    """One read transaction over the SQLite journal: one chain, chain None."""

    chains = False

    def __init__(self, conn: sqlite3.Connection, indexed: int | None) -> None:
        self._conn = conn
        self._indexed = indexed  # the account index's last record (``journal.accounts``)

    def account_records(self, account: str, since: datetime, until: datetime) -> list[Sealed]:
        bounds = ((">=", format_received_at(since)), ("<", format_received_at(until)))
        parts = lookup(account, bounds, self._indexed)
        found: list[Sealed] = []
        for where, params in parts:
            rows = self._conn.execute(
                f"{SELECT_CONTENT} AS r WHERE {where} ORDER BY r.journal_seq", params
            )
            found += [_sealed(row) for row in iterate(rows)]
        return found

    def between(self, chain: str | None, first: int, last: int) -> list[Sealed]:
        del chain  # the one chain
        rows = self._conn.execute(
            f"{SELECT_CONTENT} WHERE journal_seq BETWEEN ? AND ? ORDER BY journal_seq",
            (first, last),
        )
        return [_sealed(row) for row in iterate(rows)]

    def anchors_from(self, journal_seq: int) -> list[AnchorAt]:
        rows = self._conn.execute(
            "SELECT journal_seq, body FROM records WHERE kind = ? AND journal_seq > ? "
            "ORDER BY journal_seq",
            (RecordKind.ANCHOR.value, journal_seq),
        )
        found = (anchor_at(seq, None, seq, body) for seq, body in iterate(rows))
        return [anchor for anchor in found if anchor is not None]


@contextmanager
def snapshot(path: Path) -> Iterator[Snapshot]:
    """A read-only snapshot of the journal at ``path`` (``JournalError`` if it is none)."""
    conn = connect_reader(path)
    try:
        indexed = attach(conn, path)  # before the transaction: SQLite attaches outside one
        conn.execute("BEGIN")
        yield SqliteSnapshot(conn, indexed)
    finally:
        conn.close()
