"""Retention on PostgreSQL: every chain pruned as the SQLite journal is (``journal.prune``).

For each chain, the longest prefix of records all received before the cut-off is deleted
(with its repeat counters), and a CHECKPOINT appended to that chain names the last pruned
record's ``chain_seq`` and hash, so what remains verifies from there (``verify.py``). The
dedupe keys older than the cut-off go too. One transaction for all chains; it refuses a
cut-off younger than ``min_age`` and a journal whose chains do not verify.

The checkpoint is appended at the chain's head, which the node writing that chain also holds:
when that node commits at the same moment, one of its batches fails (no ACK, the panels
retransmit) and its writer re-reads the head (docs/journal.md, "PostgreSQL").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.chain import Head, link, prepare
from alarmrx.journal.errors import PruneRefusedError
from alarmrx.journal.postgres.schema import SCHEMA, check_version_sync
from alarmrx.journal.postgres.verify import verify_chains
from alarmrx.journal.postgres.writer import INSERT_RECORDS
from alarmrx.journal.prune import DEFAULT_MIN_AGE, PruneReport, check_cutoff, checkpoint_record

Conn = psycopg.Connection[tuple[Any, ...]]

_CHAINS = f"SELECT chain, chain_seq, hash FROM {SCHEMA}.chain_heads ORDER BY chain FOR UPDATE"
_SPAN = (
    f"SELECT min(chain_seq), max(chain_seq), min(chain_seq) FILTER (WHERE received_at >= %s) "
    f"FROM {SCHEMA}.records WHERE chain = %s"
)
_HASH = f"SELECT hash FROM {SCHEMA}.records WHERE chain = %s AND chain_seq = %s"
_REPEATS = (
    f"DELETE FROM {SCHEMA}.repeats WHERE journal_seq IN "
    f"(SELECT journal_seq FROM {SCHEMA}.records WHERE chain = %s AND chain_seq <= %s)"
)
_RECORDS = f"DELETE FROM {SCHEMA}.records WHERE chain = %s AND chain_seq <= %s"
_KEYS = f"DELETE FROM {SCHEMA}.dedupe_keys WHERE received_at < %s"
_HEAD = f"UPDATE {SCHEMA}.chain_heads SET chain_seq = %s, hash = %s WHERE chain = %s"


@dataclass(frozen=True, slots=True)
class ChainsPruneReport:
    """One ``PruneReport`` per chain (seq numbers are ``chain_seq``), by chain name."""

    chains: tuple[tuple[str, PruneReport], ...]

    @property
    def pruned(self) -> int:
        return sum(report.pruned for _, report in self.chains)

    def summary(self, chain: str) -> PruneReport:
        """The records pruned in every chain, with ``chain``'s through and checkpoint."""
        own = dict(self.chains).get(chain, PruneReport(pruned=0))
        return dataclasses.replace(own, pruned=self.pruned)


def prune_chains(
    conninfo: str, *, before: datetime, now: datetime, min_age: timedelta = DEFAULT_MIN_AGE
) -> ChainsPruneReport:
    """Delete every chain's records received before ``before``; refuse cut-offs younger
    than ``min_age`` and chains that do not verify (pruning would destroy the evidence)."""
    check_cutoff(before=before, now=now, min_age=min_age)
    report = verify_chains(conninfo)
    bad = [(chain, r) for chain, r in report.chains if not r.ok]
    if bad:
        chain, first = bad[0]
        raise PruneRefusedError(
            f"chain {chain} does not verify ({first.problem} at record {first.first_bad_seq}); "
            "pruning now would destroy the evidence"
        )
    cutoff = format_received_at(before)
    with psycopg.connect(conninfo) as conn:
        check_version_sync(conn)
        with conn.transaction():
            conn.execute("SELECT pg_current_xact_id()")  # before any journal_seq: horizon.py
            heads = conn.execute(_CHAINS).fetchall()
            done = [
                (str(c), _prune_chain(conn, str(c), Head(s, h), cutoff, now)) for c, s, h in heads
            ]
            conn.execute(_KEYS, (before,))
    return ChainsPruneReport(tuple(done))


def _prune_chain(conn: Conn, chain: str, head: Head, before: str, now: datetime) -> PruneReport:
    through = _last_prunable(conn, chain, before)
    if through is None:
        return PruneReport(pruned=0)
    row = conn.execute(_HASH, (chain, through)).fetchone()
    assert row is not None  # noqa: S101 - within the span just read, under the head's lock
    conn.execute(_REPEATS, (chain, through))
    pruned = conn.execute(_RECORDS, (chain, through)).rowcount
    checkpoint = checkpoint_record(
        through=through, through_hash=str(row[0]), pruned=pruned, before=before, now=now
    )
    linked, new_head = link(head, prepare(checkpoint))
    conn.execute(INSERT_RECORDS, (chain, *[[value] for value in linked]))
    conn.execute(_HEAD, (new_head.journal_seq, new_head.hash, chain))
    return PruneReport(pruned=pruned, through_seq=through, checkpoint_seq=new_head.journal_seq)


def _last_prunable(conn: Conn, chain: str, before: str) -> int | None:
    """The last ``chain_seq`` of the chain's prefix received before ``before``; None when
    that prefix is empty."""
    row = conn.execute(_SPAN, (before, chain)).fetchone()
    if row is None or row[0] is None:
        return None
    first, last, keep = row
    through: int = last if keep is None else keep - 1
    return through if through >= first else None
