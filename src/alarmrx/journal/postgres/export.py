"""The reads of an evidence export (``alarmrx.evidence.source_pg``): rows with the hashed
fields in ``SELECT_CONTENT``'s order (``chain_seq`` first), then ``chain`` and
``journal_seq``."""

from __future__ import annotations

from alarmrx.journal.postgres.schema import SCHEMA

_PLACED = (
    "SELECT chain_seq, received_at, kind, account, peer, transport, reply, priority, body, "
    f"raw, prev_hash, hash, chain, journal_seq FROM {SCHEMA}.records"
)
ACCOUNT_RECORDS = (
    f"{_PLACED} WHERE account = %s AND received_at >= %s AND received_at < %s ORDER BY journal_seq"
)
CHAIN_BETWEEN = f"{_PLACED} WHERE chain = %s AND chain_seq BETWEEN %s AND %s ORDER BY chain_seq"
ANCHORS_AFTER = (
    f"SELECT journal_seq, chain, chain_seq, body FROM {SCHEMA}.records "
    "WHERE kind = %s AND journal_seq > %s ORDER BY journal_seq"
)
