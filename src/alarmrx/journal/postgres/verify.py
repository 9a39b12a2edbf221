"""``verify_chains``: prove every node's chain in the PostgreSQL journal, in one snapshot.

Each chain is checked as ``alarmrx.journal.verify`` checks the SQLite chain, with
``chain_seq`` in the place of ``journal_seq``: it starts at genesis (or at the CHECKPOINT
naming the record before its first one), each record follows its predecessor, names its
hash as ``prev_hash`` and hashes to its own ``hash``, and ``chain_heads`` names the last.
Then every head an anchor record names must be stored with the hash it names
(``anchors.py``): the chains vouch for each other.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from alarmrx.journal.canonical import GENESIS_HASH, chain_hash
from alarmrx.journal.chain import EMPTY, Head
from alarmrx.journal.postgres.anchors import anchor_mismatches
from alarmrx.journal.postgres.schema import SCHEMA, check_version_sync
from alarmrx.journal.records import RecordKind
from alarmrx.journal.rows import content_from_row
from alarmrx.journal.verify import VerifyProblem, VerifyReport, end_report

Conn = psycopg.Connection[tuple[Any, ...]]

_ROWS = (
    "SELECT chain, chain_seq, received_at, kind, account, peer, transport, reply, priority, "
    f"body, raw, prev_hash, hash FROM {SCHEMA}.records ORDER BY chain, chain_seq"
)
_HEADS = f"SELECT chain, chain_seq, hash FROM {SCHEMA}.chain_heads"
_LATER = f"SELECT chain_seq FROM {SCHEMA}.records WHERE chain = %s AND hash = %s AND chain_seq > %s"
_CHECKPOINTS = (
    f"SELECT body FROM {SCHEMA}.records WHERE chain = %s AND kind = %s ORDER BY chain_seq DESC"
)


@dataclass(frozen=True, slots=True)
class ChainsReport:
    """One ``VerifyReport`` per chain (seq numbers are ``chain_seq``), by chain name."""

    chains: tuple[tuple[str, VerifyReport], ...]

    @property
    def ok(self) -> bool:
        return all(report.ok for _, report in self.chains)

    @property
    def records(self) -> int:
        return sum(report.records for _, report in self.chains)


@dataclass(frozen=True, slots=True)
class _Fault:
    problem: VerifyProblem
    seq: int
    detail: str


def verify_chains(conninfo: str) -> ChainsReport:
    """Check every chain, read-only, in one REPEATABLE READ snapshot."""
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        check_version_sync(conn)
        heads = {row[0]: (int(row[1]), str(row[2])) for row in conn.execute(_HEADS)}
        reports: dict[str, VerifyReport] = {}
        with conn.cursor(name="alarmrx_verify") as rows:
            rows.itersize = 1000
            rows.execute(_ROWS)
            for chain, chain_rows in itertools.groupby(rows, key=lambda row: str(row[0])):
                reports[chain] = _verify(conn, chain, chain_rows, heads.get(chain))
        for chain, head in heads.items():
            if chain not in reports:
                reports[chain] = _empty(head)
        _against_anchors(conn, reports)
        conn.rollback()
    return ChainsReport(tuple(sorted(reports.items())))


def _against_anchors(conn: Conn, reports: dict[str, VerifyReport]) -> None:
    """A chain that verifies on its own fails when a record differs from what an anchor
    (of any chain) named for it (``anchors.py``)."""
    for chain, mismatch in anchor_mismatches(conn).items():
        report = reports.get(chain)
        if report is not None and report.ok:
            fault = _Fault(VerifyProblem.EDITED, mismatch.chain_seq, mismatch.detail)
            reports[chain] = _bad(report.records, report.first_seq, fault)


def _verify(
    conn: Conn, chain: str, rows: Iterable[tuple[Any, ...]], head: tuple[int, str] | None
) -> VerifyReport:
    stream = (row[1:] for row in rows)  # chain_seq first, as ``content_from_row`` reads it
    first = next(stream)
    prev = _start_hash(conn, chain, first[0])
    if prev is None:
        detail = f"records before {first[0]} are gone and no checkpoint covers them"
        return _bad(0, first[0], _Fault(VerifyProblem.REMOVED, first[0] - 1, detail))
    count, seq = 0, first[0]
    for row in itertools.chain((first,), stream):
        fault = _check(conn, chain, row, seq, prev)
        if fault is not None:
            return _bad(count, first[0], fault)
        count, seq, prev = count + 1, row[0] + 1, row[11]
    stated = Head(*head) if head is not None else EMPTY
    return end_report(stated, count, first[0], seq - 1, prev)


def _check(conn: Conn, chain: str, row: tuple[Any, ...], seq: int, prev: str) -> _Fault | None:
    if row[0] != seq:
        return _Fault(VerifyProblem.REMOVED, seq, f"records {seq}..{row[0] - 1} are missing")
    if row[10] != prev:
        later = conn.execute(_LATER, (chain, row[10], row[0])).fetchone()
        if later is not None:
            detail = f"record {row[0]} names record {later[0]}, stored after it, as predecessor"
            return _Fault(VerifyProblem.REORDERED, row[0], detail)
        detail = f"record {row[0]} names a predecessor no record has: rewritten or renumbered"
        return _Fault(VerifyProblem.RELINKED, row[0], detail)
    if chain_hash(row[10], content_from_row(row)) != row[11]:
        return _Fault(VerifyProblem.EDITED, seq, f"record {seq} does not match its hash")
    return None


def _start_hash(conn: Conn, chain: str, first_seq: int) -> str | None:
    """Genesis, or the hash a CHECKPOINT gives for the record just before ``first_seq``."""
    if first_seq == 1:
        return GENESIS_HASH
    for (body,) in conn.execute(_CHECKPOINTS, (chain, RecordKind.CHECKPOINT.value)):
        checkpoint = json.loads(body)
        if checkpoint.get("pruned_through_seq") == first_seq - 1:
            return str(checkpoint["pruned_through_hash"])
    return None


def _empty(head: tuple[int, str]) -> VerifyReport:
    if head == (0, GENESIS_HASH):
        return VerifyReport(ok=True, records=0)
    detail = f"chain head names record {head[0]}; no records are stored"
    return _bad(0, None, _Fault(VerifyProblem.TRUNCATED, 1, detail))


def _bad(count: int, first_seq: int | None, fault: _Fault) -> VerifyReport:
    return VerifyReport(
        ok=False,
        records=count,
        first_bad_seq=fault.seq,
        problem=fault.problem,
        detail=fault.detail,
        first_seq=first_seq,
    )
