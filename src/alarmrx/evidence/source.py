"""Reading the journal for an export: records exactly as stored, in one read-only snapshot.

Uses the journal's own row shape (``journal.rows.SELECT_CONTENT``) and reader connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from alarmrx.evidence.sealed import Sealed
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.chain import read_head
from alarmrx.journal.records import RecordKind
from alarmrx.journal.rows import SELECT_CONTENT, content_from_row, iterate
from alarmrx.journal.schema import connect_reader


def _sealed(row: tuple[Any, ...]) -> Sealed:
    return Sealed(content_from_row(row), row[10], row[11])


class Snapshot:
    """One read transaction over the journal at ``path``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def account_records(self, account: str, since: datetime, until: datetime) -> list[Sealed]:
        """The account's records received in ``[since, until)``, in ``journal_seq`` order."""
        rows = self._conn.execute(
            f"{SELECT_CONTENT} WHERE account = ? AND received_at >= ? AND received_at < ? "
            "ORDER BY journal_seq",
            (account, format_received_at(since), format_received_at(until)),
        )
        return [_sealed(row) for row in iterate(rows)]

    def between(self, first: int, last: int) -> list[Sealed]:
        """Every record from ``first`` to ``last``, both included."""
        rows = self._conn.execute(
            f"{SELECT_CONTENT} WHERE journal_seq BETWEEN ? AND ? ORDER BY journal_seq",
            (first, last),
        )
        return [_sealed(row) for row in iterate(rows)]

    def anchors_from(self, journal_seq: int) -> list[tuple[int, int]]:
        """(anchor's journal_seq, the head_seq it names) of every anchor after
        ``journal_seq``, in order."""
        rows = self._conn.execute(
            "SELECT journal_seq, body FROM records WHERE kind = ? AND journal_seq > ? "
            "ORDER BY journal_seq",
            (RecordKind.ANCHOR.value, journal_seq),
        )
        found = [(seq, json.loads(body).get("head_seq")) for seq, body in iterate(rows)]
        return [(seq, head) for seq, head in found if isinstance(head, int)]

    def head(self) -> tuple[int, str]:
        """The chain head: (journal_seq, hash)."""
        head = read_head(self._conn)
        return head.journal_seq, head.hash


@contextmanager
def snapshot(path: Path) -> Iterator[Snapshot]:
    """A read-only snapshot of the journal at ``path`` (``JournalError`` if it is none)."""
    conn = connect_reader(path)
    try:
        conn.execute("BEGIN")
        yield Snapshot(conn)
    finally:
        conn.close()
