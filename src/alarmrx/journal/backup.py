"""``backup``: a consistent copy of a live journal, taken while the daemon writes to it.

SQLite's online backup API (``sqlite3.Connection.backup``) copies the database as one read
transaction sees it, the committed records still in the write-ahead log included; a plain
copy of ``journal.db`` misses those, and may not even show the tables. The copy is written
next to its target, made a single self-contained file (``journal_mode = DELETE``), synced,
and then renamed into place, so a target either is a whole backup or is untouched. It is
created readable by its owner only: it holds every event.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from alarmrx.journal.errors import JournalError
from alarmrx.journal.schema import connect_reader
from alarmrx.journal.verify import VerifyReport, verify_chain


def backup(source: Path, target: Path) -> VerifyReport:
    """Copy the journal at ``source`` to ``target`` and verify the copy's chain.

    Raises ``JournalError`` when ``source`` is not a journal, ``target`` is the journal
    itself, or the copy does not verify (the target is then left as it was)."""
    if target.exists() and target.resolve() == source.resolve():
        raise JournalError(f"{target} is the journal itself; back it up to another file")
    if not target.parent.is_dir():
        raise JournalError(f"directory {target.parent} does not exist; create it first")
    partial = target.with_name(f".{target.name}.partial")
    try:
        _copy(source, partial)
        report = verify_chain(partial)
        if not report.ok:
            problem = f"record {report.first_bad_seq} {report.problem}: {report.detail}"
            raise JournalError(f"the copy does not verify ({problem}); {target} not written")
        partial.replace(target)
        _sync_directory(target.parent)
    finally:
        partial.unlink(missing_ok=True)
    return report


def _copy(source: Path, partial: Path) -> None:
    reader = connect_reader(source)
    old_umask = os.umask(0o077)
    try:
        partial.unlink(missing_ok=True)
        copy = sqlite3.connect(partial, isolation_level=None)
    finally:
        os.umask(old_umask)
    try:
        reader.backup(copy)  # all pages in one step: one read transaction, one snapshot
        copy.execute("PRAGMA journal_mode = DELETE")
    finally:
        copy.close()
        reader.close()
    with partial.open("rb") as written:
        os.fsync(written.fileno())


def _sync_directory(directory: Path) -> None:
    """Make the rename durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on a directory
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
