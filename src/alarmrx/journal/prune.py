"""``prune``: retention. Deletes the oldest records and chains a CHECKPOINT naming the last
pruned record's seq and hash, so what remains still verifies (``verify_chain`` starts there).

Only a prefix of the chain is pruned: the records before the first one received on or after
``before``. A record with an earlier ``received_at`` stored after that one (the clock stepped
back) stays, so the chain never gets a hole.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.chain import link, prepare, read_head
from alarmrx.journal.errors import InvalidRecordError, PruneRefusedError
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.journal.schema import INSERT_RECORD, SET_HEAD, connect_writer
from alarmrx.journal.verify import verify_chain

DEFAULT_MIN_AGE = timedelta(weeks=6)


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """``through_seq`` is the last pruned record; None (and no checkpoint) when none was."""

    pruned: int
    through_seq: int | None = None
    checkpoint_seq: int | None = None


def prune(
    path: Path, *, before: datetime, now: datetime, min_age: timedelta = DEFAULT_MIN_AGE
) -> PruneReport:
    """Delete the records received before ``before``; refuse cut-offs younger than
    ``min_age`` and chains that do not verify (pruning would destroy the evidence)."""
    check_prune(path, before=before, now=now, min_age=min_age)
    conn = connect_writer(path, fsync=True)
    try:
        return prune_on(conn, before=before, now=now)
    finally:
        conn.close()


def check_prune(path: Path, *, before: datetime, now: datetime, min_age: timedelta) -> None:
    """Refuse a cut-off younger than ``min_age``, and a chain that does not verify."""
    check_cutoff(before=before, now=now, min_age=min_age)
    report = verify_chain(path)
    if not report.ok:
        raise PruneRefusedError(
            f"the chain does not verify ({report.problem} at record {report.first_bad_seq}); "
            "pruning now would destroy the evidence"
        )


def check_cutoff(*, before: datetime, now: datetime, min_age: timedelta) -> None:
    """Refuse a cut-off younger than ``min_age`` (every backend)."""
    if before.tzinfo is None or now.tzinfo is None:
        raise InvalidRecordError("before and now must carry a time zone")
    if before > now - min_age:
        raise PruneRefusedError(
            f"refusing to prune records younger than {min_age.days} days: "
            f"the cut-off must be on or before {format_received_at(now - min_age)}"
        )


def checkpoint_record(
    *, through: int, through_hash: str, pruned: int, before: str, now: datetime
) -> NewRecord:
    """The CHECKPOINT that ends a pruned chain: the rest of it starts from ``through``."""
    return NewRecord(
        kind=RecordKind.CHECKPOINT,
        received_at=now,
        body={
            "pruned_through_seq": through,
            "pruned_through_hash": through_hash,
            "pruned_records": pruned,
            "before": before,
        },
    )


def prune_on(conn: sqlite3.Connection, *, before: datetime, now: datetime) -> PruneReport:
    """The pruning transaction on an open read-write connection (``check_prune`` first): the
    journal writer runs it on its own connection, between two group commits."""
    return _prune(conn, format_received_at(before), now)


def _prune(conn: sqlite3.Connection, before: str, now: datetime) -> PruneReport:
    conn.execute("BEGIN IMMEDIATE")
    try:
        through = _last_prunable(conn, before)
        if through is None:
            conn.execute("ROLLBACK")
            return PruneReport(pruned=0)
        report = _delete_through(conn, through, before, now)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return report


def _last_prunable(conn: sqlite3.Connection, before: str) -> int | None:
    """The last seq of the prefix received before ``before``; None when the prefix is empty."""
    first, last = conn.execute("SELECT MIN(journal_seq), MAX(journal_seq) FROM records").fetchone()
    if first is None:
        return None
    (keep,) = conn.execute(
        "SELECT MIN(journal_seq) FROM records WHERE received_at >= ?", (before,)
    ).fetchone()
    through: int = last if keep is None else keep - 1
    return through if through >= first else None


def _delete_through(
    conn: sqlite3.Connection, through: int, before: str, now: datetime
) -> PruneReport:
    (through_hash,) = conn.execute(
        "SELECT hash FROM records WHERE journal_seq = ?", (through,)
    ).fetchone()
    pruned = conn.execute("DELETE FROM records WHERE journal_seq <= ?", (through,)).rowcount
    conn.execute("DELETE FROM repeats WHERE journal_seq <= ?", (through,))
    checkpoint = checkpoint_record(
        through=through, through_hash=through_hash, pruned=pruned, before=before, now=now
    )
    row, head = link(read_head(conn), prepare(checkpoint))
    conn.execute(INSERT_RECORD, row)
    conn.execute(SET_HEAD, (head.journal_seq, head.hash))
    return PruneReport(pruned=pruned, through_seq=through, checkpoint_seq=head.journal_seq)
