"""Between PostgreSQL rows and records: the SELECT shapes every PostgreSQL reader uses."""

from __future__ import annotations

import dataclasses
from typing import Any

from alarmrx.journal.postgres.schema import SCHEMA
from alarmrx.journal.records import Record
from alarmrx.journal.rows import record_from_row as sqlite_record

SELECT_RECORDS = (
    "SELECT r.journal_seq, r.received_at, r.kind, r.account, r.peer, r.transport, r.reply, "
    "r.priority, r.body, r.raw, r.prev_hash, r.hash, COALESCE(p.count, 0), r.chain, "
    f"r.chain_seq FROM {SCHEMA}.records AS r "
    f"LEFT JOIN {SCHEMA}.repeats AS p ON p.journal_seq = r.journal_seq"
)
# The hashed fields, ``chain_seq`` in the place of the SQLite journal's ``journal_seq``:
# ``alarmrx.journal.rows.content_from_row`` reads these rows as they are.
SELECT_CONTENT = (
    "SELECT chain_seq, received_at, kind, account, peer, transport, reply, priority, body, "
    f"raw, prev_hash, hash FROM {SCHEMA}.records"
)


def record_from_row(row: tuple[Any, ...]) -> Record:
    """A ``SELECT_RECORDS`` row as a ``Record`` with its ``chain`` and ``chain_seq``."""
    record = sqlite_record(row[:13])
    return dataclasses.replace(record, chain=row[13], chain_seq=row[14])
