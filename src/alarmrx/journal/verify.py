"""``verify_chain``: walk the stored records and prove every link and every hash.

The walk starts at genesis, or, after pruning, at the CHECKPOINT whose body names the last
pruned record. Each record must follow its predecessor's ``journal_seq``, name its hash as
``prev_hash`` and hash to its own ``hash``; the ``chain_head`` table must name the last one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from alarmrx.journal.canonical import GENESIS_HASH, chain_hash
from alarmrx.journal.chain import EMPTY, Head, read_head
from alarmrx.journal.records import RecordKind
from alarmrx.journal.rows import SELECT_CONTENT, content_from_row, iterate
from alarmrx.journal.schema import connect_reader


class VerifyProblem(StrEnum):
    """Why the chain does not verify, named after what most likely happened."""

    EDITED = "edited"  # the record's content no longer matches its hash
    REMOVED = "removed"  # a journal_seq is missing, or the chain's start without a checkpoint
    REORDERED = "reordered"  # the record names as predecessor a record stored after it
    RELINKED = "relinked"  # it names a predecessor no record has: rewritten, or renumbered
    TRUNCATED = "truncated"  # chain_head names a record after the last one stored
    ADDED = "added"  # records stored after the one chain_head names, written around the journal


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyReport:
    """``records`` counts the records proven before the first problem (all when ``ok``)."""

    ok: bool
    records: int
    first_bad_seq: int | None = None
    problem: VerifyProblem | None = None
    detail: str = ""
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None


@dataclass(frozen=True, slots=True)
class _Fault:
    problem: VerifyProblem
    seq: int
    detail: str


def verify_chain(path: Path) -> VerifyReport:
    """Check the whole chain of the journal at ``path``, read-only, in one snapshot."""
    conn = connect_reader(path)
    try:
        conn.execute("BEGIN")
        return _verify(conn)
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection) -> VerifyReport:
    rows = iterate(conn.execute(f"{SELECT_CONTENT} ORDER BY journal_seq"))
    first = next(rows, None)
    if first is None:
        return _empty(conn)
    start = _start_hash(conn, first[0])
    if start is None:
        detail = f"records before {first[0]} are gone and no checkpoint covers them"
        return _bad(0, first[0], _Fault(VerifyProblem.REMOVED, first[0] - 1, detail))
    count, seq, prev = 0, first[0], start
    for row in _chain(first, rows):
        fault = _check(conn, row, seq, prev)
        if fault is not None:
            return _bad(count, first[0], fault)
        count, seq, prev = count + 1, row[0] + 1, row[11]
    return _finish(conn, count, first[0], seq - 1, prev)


def _chain(first: tuple[Any, ...], rest: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    yield first
    yield from rest


def _check(conn: sqlite3.Connection, row: tuple[Any, ...], seq: int, prev: str) -> _Fault | None:
    if row[0] != seq:
        return _Fault(VerifyProblem.REMOVED, seq, f"records {seq}..{row[0] - 1} are missing")
    if row[10] != prev:
        return _link_fault(conn, row)
    if chain_hash(row[10], content_from_row(row)) != row[11]:
        return _Fault(VerifyProblem.EDITED, seq, f"record {seq} does not match its hash")
    return None


def _link_fault(conn: sqlite3.Connection, row: tuple[Any, ...]) -> _Fault:
    later = conn.execute(
        "SELECT journal_seq FROM records WHERE hash = ? AND journal_seq > ?", (row[10], row[0])
    ).fetchone()
    if later is not None:
        detail = f"record {row[0]} names record {later[0]}, stored after it, as predecessor"
        return _Fault(VerifyProblem.REORDERED, row[0], detail)
    detail = (
        f"record {row[0]} names a predecessor no record has: record {row[0] - 1} was "
        "rewritten, or records were removed and the rest renumbered"
    )
    return _Fault(VerifyProblem.RELINKED, row[0], detail)


def _start_hash(conn: sqlite3.Connection, first_seq: int) -> str | None:
    """Genesis, or the hash a CHECKPOINT gives for the record just before ``first_seq``."""
    if first_seq == 1:
        return GENESIS_HASH
    bodies = conn.execute(
        "SELECT body FROM records WHERE kind = ? ORDER BY journal_seq DESC",
        (RecordKind.CHECKPOINT.value,),
    )
    for (body,) in bodies:
        checkpoint = json.loads(body)
        if checkpoint.get("pruned_through_seq") == first_seq - 1:
            return str(checkpoint["pruned_through_hash"])
    return None


def _empty(conn: sqlite3.Connection) -> VerifyReport:
    head = read_head(conn)
    if head == EMPTY:
        return VerifyReport(ok=True, records=0)
    detail = f"chain head names record {head.journal_seq}; no records are stored"
    return _bad(0, None, _Fault(VerifyProblem.TRUNCATED, 1, detail))


def _finish(
    conn: sqlite3.Connection, count: int, first_seq: int, last_seq: int, last_hash: str
) -> VerifyReport:
    return end_report(read_head(conn), count, first_seq, last_seq, last_hash)


def end_report(
    head: Head, count: int, first_seq: int, last_seq: int, last_hash: str
) -> VerifyReport:
    """The report once every record up to ``last_seq`` is proven: ``head`` (the stated
    head) must name that record. Shared by every backend."""
    if head.journal_seq > last_seq:
        detail = f"records {last_seq + 1}..{head.journal_seq} are gone from the end"
        return _bad(count, first_seq, _Fault(VerifyProblem.TRUNCATED, last_seq + 1, detail))
    if head.journal_seq < last_seq:
        detail = f"records {head.journal_seq + 1}..{last_seq} were added around the journal"
        fault = _Fault(VerifyProblem.ADDED, head.journal_seq + 1, detail)
        return _bad(count - (last_seq - head.journal_seq), first_seq, fault)
    if head.hash != last_hash:
        detail = f"chain head names another hash for record {last_seq}: it was rewritten"
        return _bad(count - 1, first_seq, _Fault(VerifyProblem.EDITED, last_seq, detail))
    return VerifyReport(
        ok=True, records=count, first_seq=first_seq, last_seq=last_seq, last_hash=last_hash
    )


def _bad(count: int, first_seq: int | None, fault: _Fault) -> VerifyReport:
    return VerifyReport(
        ok=False,
        records=count,
        first_bad_seq=fault.seq,
        problem=fault.problem,
        detail=fault.detail,
        first_seq=first_seq,
    )
