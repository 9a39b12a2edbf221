"""``query``: records of every chain, in ``journal_seq`` order, for ``alarmrx journal query``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.postgres.rows import SELECT_RECORDS, record_from_row
from alarmrx.journal.postgres.schema import check_version_sync
from alarmrx.journal.records import Record
from alarmrx.journal.rows import FETCH_SIZE

_FILTERS = (
    ("account", "r.account = %s"),
    ("since", "r.received_at >= %s"),
    ("until", "r.received_at < %s"),
)


def query(
    conninfo: str,
    *,
    account: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Record]:
    """Records of ``account`` received in ``[since, until)``. Connects at once (so an
    unreachable database raises here) and streams through a server-side cursor."""
    values = {
        "account": account,
        "since": None if since is None else format_received_at(since),
        "until": None if until is None else format_received_at(until),
    }
    chosen = [(clause, values[name]) for name, clause in _FILTERS if values[name] is not None]
    where = " AND ".join(clause for clause, _ in chosen) or "true"
    conn = psycopg.connect(conninfo)
    try:
        check_version_sync(conn)
    except BaseException:
        conn.close()
        raise
    sql = f"{SELECT_RECORDS} WHERE {where} ORDER BY r.journal_seq"
    return _stream(conn, sql, [value for _, value in chosen])


def _stream(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> Iterator[Record]:
    try:
        with conn.cursor(name="alarmrx_query") as cursor:
            cursor.itersize = FETCH_SIZE
            cursor.execute(sql, params)
            for row in cursor:
                yield record_from_row(row)
    finally:
        conn.close()
