"""Every chain's head, proven, for anchors: the last stored record of each chain must be
the one ``chain_heads`` names and must match its own hash (``chain.proven_head``)."""

from __future__ import annotations

from typing import Any

from alarmrx.journal.chain import EMPTY, Head, proven_head
from alarmrx.journal.errors import JournalCorruptError
from alarmrx.journal.heads import ChainHead
from alarmrx.journal.postgres.schema import SCHEMA

# chain, the stated head (chain_seq, hash), then the chain's last record as SELECT_CONTENT
HEADS = (
    f"SELECT h.chain, h.chain_seq, h.hash, last.* FROM {SCHEMA}.chain_heads AS h "
    "LEFT JOIN LATERAL (SELECT chain_seq, received_at, kind, account, peer, transport, reply, "
    f"priority, body, raw, prev_hash, hash FROM {SCHEMA}.records AS r "
    "WHERE r.chain = h.chain ORDER BY r.chain_seq DESC LIMIT 1) AS last ON true "
    "ORDER BY h.chain"
)


def proven_heads(rows: list[tuple[Any, ...]]) -> list[ChainHead]:
    """``HEADS`` rows as the heads of every chain holding records, in chain order; raises
    ``JournalCorruptError`` naming the chain whose head does not prove."""
    heads = []
    for row in rows:
        chain, stated = str(row[0]), Head(int(row[1]), str(row[2]))
        last = None if row[3] is None else row[3:15]
        try:
            head = proven_head(stated, last)
        except JournalCorruptError as err:
            raise JournalCorruptError(f"chain {chain}: {err}") from None
        if head != EMPTY:
            heads.append(ChainHead(chain, head.journal_seq, head.hash))
    return heads
