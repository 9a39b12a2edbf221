"""Reading a PostgreSQL journal for an export: every chain, in one read-only snapshot
(``REPEATABLE READ``). Imported only with ``[journal] backend = "postgresql"``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg

from alarmrx.evidence.sealed import Sealed
from alarmrx.evidence.source import AnchorAt, Snapshot, anchor_at
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.postgres.export import ACCOUNT_RECORDS, ANCHORS_AFTER, CHAIN_BETWEEN
from alarmrx.journal.postgres.schema import check_version_sync
from alarmrx.journal.records import RecordKind
from alarmrx.journal.rows import content_from_row

Conn = psycopg.Connection[tuple[Any, ...]]


def _sealed(row: tuple[Any, ...]) -> Sealed:
    return Sealed(content_from_row(row), row[10], row[11], chain=row[12], order=row[13])


class PostgresSnapshot:
    """One read transaction over every chain of the PostgreSQL journal."""

    chains = True

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def account_records(self, account: str, since: datetime, until: datetime) -> list[Sealed]:
        params = (account, format_received_at(since), format_received_at(until))
        return [_sealed(row) for row in self._conn.execute(ACCOUNT_RECORDS, params)]

    def between(self, chain: str | None, first: int, last: int) -> list[Sealed]:
        return [_sealed(row) for row in self._conn.execute(CHAIN_BETWEEN, (chain, first, last))]

    def anchors_from(self, journal_seq: int) -> list[AnchorAt]:
        rows = self._conn.execute(ANCHORS_AFTER, (RecordKind.ANCHOR.value, journal_seq))
        found = (anchor_at(seq, chain, place, body) for seq, chain, place, body in rows)
        return [anchor for anchor in found if anchor is not None]


@contextmanager
def snapshot(conninfo: str) -> Iterator[Snapshot]:
    """A read-only snapshot of every chain (``JournalError`` without the schema)."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        check_version_sync(conn)
        try:
            yield PostgresSnapshot(conn)
        finally:
            conn.rollback()
