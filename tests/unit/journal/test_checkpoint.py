"""The WAL checkpointed beside the writer thread (``checkpoint.py``): the records reach
journal.db itself without a commit doing it, and the WAL file stays bounded under load."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest
from tests.unit.journal.builders import message

from alarmrx.journal import Journal, checkpoint, writer

PAGE = 4096


def _in_database_file(path: Path, copy: Path) -> int:
    """How many records journal.db holds without its WAL (a copy of the file alone)."""
    copy.write_bytes(path.read_bytes())
    conn = sqlite3.connect(f"{copy.as_uri()}?immutable=1", uri=True)
    try:
        tables = conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'records'")
        if tables.fetchone()[0] == 0:
            return 0  # not even the tables yet
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    finally:
        conn.close()


async def test_commits_leave_the_checkpoint_to_the_checkpoint_thread(
    path: Path, tmp_path: Path
) -> None:
    journal = await Journal.open(path)
    try:
        results = await journal.append_many([message(n) for n in range(5)])
        assert [r.journal_seq for r in results] == [1, 2, 3, 4, 5]
        copy = tmp_path / "copy.db"
        for _ in range(200):  # the thread checkpoints DELAY_S after the commit
            if _in_database_file(path, copy) == 5:
                break
            await asyncio.sleep(0.05)
        assert _in_database_file(path, copy) == 5
        await journal.append(message(5))
        assert _in_database_file(path, copy) == 5  # the commit itself did not checkpoint
    finally:
        await journal.close()
    assert _in_database_file(path, copy) == 6  # a clean stop checkpoints everything


async def _load(journal: Journal, path: Path, commits: int) -> int:
    """Append ``commits`` batches one after the other (a commit each); the WAL's largest
    size, in pages, seen after each commit."""
    wal = path.with_name(path.name + "-wal")
    largest = 0
    for n in range(commits):
        await journal.append_many([message(n * 4 + k) for k in range(4)])
        largest = max(largest, wal.stat().st_size // PAGE)
    return largest


async def _largest_wal_of_400_commits(path: Path) -> int:
    """A new journal at ``path`` given 400 commits of 4 records, then closed: the WAL's
    largest size meanwhile, in pages."""
    journal = await Journal.open(path)
    try:
        largest = await _load(journal, path, 400)
        assert journal.last_seq == 1600
    finally:
        await journal.close()
    return largest


async def test_the_writer_restarts_a_wal_the_checkpoint_thread_found_long(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "DELAY_S", 0.005)
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 50)
    # Without restarts the WAL would hold every page of every commit: over two thousand.
    assert await _largest_wal_of_400_commits(path) < 600


async def test_the_writer_checkpoints_itself_when_the_thread_never_asks(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint, "DELAY_S", 3600.0)  # the thread never gets to it
    monkeypatch.setattr(writer, "MAX_COMMITS_UNCHECKPOINTED", 20)
    assert await _largest_wal_of_400_commits(path) < 300  # closing stopped the thread at once


async def test_close_ends_the_checkpoint_thread_whenever_it_comes(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stop`` may come at any point of the thread's loop, while it checkpoints too."""
    monkeypatch.setattr(checkpoint, "DELAY_S", 0.0)
    for n in range(40):
        journal = await Journal.open(path)
        for k in range(n % 4):
            await journal.append(message(n * 4 + k))
        await asyncio.wait_for(journal.close(), 10)


def _descriptors_of(path: Path) -> int:
    """This process's open descriptors of ``path`` (Linux: /proc/self/fd)."""
    target = path.resolve()
    count = 0
    for link in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += link.readlink() == target
    return count


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd")
async def test_the_checkpoint_thread_syncs_journal_db_with_a_descriptor_closed_at_stop(
    path: Path, tmp_path: Path
) -> None:
    journal = await Journal.open(path, fsync=True)
    try:
        await journal.append_many([message(n) for n in range(5)])
        before = _descriptors_of(path)  # the thread has not checkpointed yet (DELAY_S)
        copy = tmp_path / "copy.db"
        for _ in range(200):  # the thread checkpoints DELAY_S after the commit, then syncs
            if _in_database_file(path, copy) == 5:
                break
            await asyncio.sleep(0.05)
        assert _in_database_file(path, copy) == 5
        # the thread's own connection, and the descriptor it syncs journal.db with
        assert _descriptors_of(path) == before + 2
    finally:
        await journal.close()
    assert _descriptors_of(path) == 0
