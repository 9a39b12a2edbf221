"""Appending: group commit, durability before the await returns, order, tailing, close."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from tests.unit.journal.builders import T0, Metrics, execute, message, stored_seqs

from alarmrx.journal import (
    GENESIS_HASH,
    AppendResult,
    InvalidRecordError,
    Journal,
    JournalClosedError,
    JournalCorruptError,
    JournalError,
    NewRecord,
    RecordKind,
    WriterHooks,
    verify_chain,
)


class Gate:
    """A before_commit hook that holds the writer thread inside the transaction until opened."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.calls = 0

    def __call__(self, _conn: sqlite3.Connection) -> None:
        self.calls += 1
        self.entered.set()
        assert self.opened.wait(10), "the test never opened the gate"

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10)


async def test_appends_chain_from_genesis_in_order(journal: Journal, path: Path) -> None:
    results = [await journal.append(message(n)) for n in range(3)]

    assert [r.journal_seq for r in results] == [1, 2, 3]
    assert not any(r.duplicate for r in results)
    records = await journal.read_after(0)
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert records[1].body["sequence"] == "0001"
    assert records[2].raw == message(2).raw
    assert journal.last_seq == 3
    assert verify_chain(path).ok


async def test_concurrent_appends_share_one_commit(path: Path) -> None:
    gate, metrics = Gate(), Metrics()
    journal = await Journal.open(path, metrics=metrics, hooks=WriterHooks(before_commit=gate))
    first = asyncio.create_task(journal.append(message(0)))
    await gate.wait_entered()  # the writer holds batch 1; the next 200 queue up behind it
    rest = [asyncio.create_task(journal.append(message(n))) for n in range(1, 201)]
    await asyncio.sleep(0.05)
    gate.opened.set()
    results = await asyncio.gather(first, *rest)
    await journal.close()

    assert [size for _, size in metrics.commits] == [1, 200]
    assert gate.calls == 2
    assert sorted(r.journal_seq for r in results) == list(range(1, 202))
    assert metrics.appended == ["message"] * 201


async def test_a_commit_counts_each_kind_of_record_it_chained(path: Path) -> None:
    metrics = Metrics()
    journal = await Journal.open(path, metrics=metrics)
    derived = NewRecord(kind=RecordKind.DERIVED, received_at=T0, body={"event": "x"})
    await journal.append_many([message(0), derived, message(1), derived, message(2)])
    await journal.close()

    assert [size for _, size in metrics.commits] == [5]
    assert sorted(metrics.appended) == ["derived"] * 2 + ["message"] * 3


async def test_append_returns_only_after_commit(path: Path) -> None:
    gate = Gate()
    journal = await Journal.open(path, hooks=WriterHooks(before_commit=gate))
    pending = asyncio.create_task(journal.append(message(1)))
    await gate.wait_entered()
    await asyncio.sleep(0.1)

    assert not pending.done()  # the panel would not be ACKed yet
    assert stored_seqs(path) == []  # another reader sees nothing: not committed
    gate.opened.set()
    result = await pending
    assert result.journal_seq == 1
    assert stored_seqs(path) == [1]
    await journal.close()


async def test_append_many_is_one_transaction_in_order(journal: Journal, metrics: Metrics) -> None:
    results = await journal.append_many([message(n) for n in range(5)])

    assert [r.journal_seq for r in results] == [1, 2, 3, 4, 5]
    assert [size for _, size in metrics.commits] == [5]
    assert await journal.append_many([]) == []


async def test_read_after_pages_and_wait_for_wakes(journal: Journal) -> None:
    await journal.append_many([message(n) for n in range(10)])
    page = await journal.read_after(3, limit=4)
    assert [r.journal_seq for r in page] == [4, 5, 6, 7]
    assert await journal.read_after(10) == []

    waiter = asyncio.create_task(journal.wait_for(10))
    await asyncio.sleep(0.02)
    assert not waiter.done()
    await journal.append(message(99))
    await asyncio.wait_for(waiter, 5)
    await journal.wait_for(3)  # already past: returns at once


async def test_close_finishes_in_flight_commits(path: Path) -> None:
    journal = await Journal.open(path)
    tasks = [asyncio.create_task(journal.append(message(n))) for n in range(50)]
    await asyncio.sleep(0)  # every task has queued its request
    await journal.close()

    assert all(t.done() and not t.exception() for t in tasks)
    assert stored_seqs(path) == list(range(1, 51))
    with pytest.raises(JournalClosedError):
        await journal.append(message(51))
    await journal.close()  # idempotent


async def test_wait_for_raises_when_closed(path: Path) -> None:
    journal = await Journal.open(path)
    waiter = asyncio.create_task(journal.wait_for(0))
    await asyncio.sleep(0.01)
    await journal.close()
    with pytest.raises(JournalClosedError):
        await asyncio.wait_for(waiter, 5)


async def test_invalid_records_fail_alone(journal: Journal) -> None:
    naive = NewRecord(kind=RecordKind.MESSAGE, received_at=T0.replace(tzinfo=None))
    with pytest.raises(InvalidRecordError):
        await journal.append(naive)
    bad_body = NewRecord(kind=RecordKind.MESSAGE, received_at=T0, body={"x": object()})
    outcomes = await asyncio.gather(
        journal.append(bad_body), journal.append(message(1)), return_exceptions=True
    )

    assert isinstance(outcomes[0], InvalidRecordError)
    assert outcomes[1] == AppendResult(journal_seq=1)
    assert journal.healthy


async def test_reopen_continues_the_chain(path: Path) -> None:
    journal = await Journal.open(path)
    await journal.append_many([message(n) for n in range(3)])
    await journal.close()
    journal = await Journal.open(path, fsync=False)
    assert journal.last_seq == 3
    assert (await journal.append(message(3))).journal_seq == 4
    await journal.close()
    assert verify_chain(path).records == 4


async def test_open_refuses_a_tampered_head(path: Path) -> None:
    journal = await Journal.open(path)
    await journal.append_many([message(n) for n in range(3)])
    await journal.close()
    execute(path, "UPDATE records SET account = '9999' WHERE journal_seq = 3")

    with pytest.raises(JournalCorruptError, match="record 3"):
        await Journal.open(path)


async def test_cursors_persist_across_reopen(path: Path) -> None:
    journal = await Journal.open(path)
    assert await journal.load_cursor("mqtt") == 0
    await journal.append_many([message(n) for n in range(3)])
    await journal.save_cursor("mqtt", 2)
    await journal.save_cursor("legacy", 1)
    await journal.save_cursor("mqtt", 3)
    await journal.close()

    journal = await Journal.open(path)
    assert await journal.load_cursor("mqtt") == 3
    assert await journal.load_cursor("legacy") == 1
    await journal.close()
    assert verify_chain(path).records == 3  # cursors live outside the chain


async def test_open_reports_an_unusable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(JournalError, match="cannot open journal"):
        await Journal.open(blocker / "journal.db")
    (tmp_path / "other.db").write_bytes(b"not SQLite" * 200)
    with pytest.raises(JournalError, match="cannot open journal"):
        await Journal.open(tmp_path / "other.db")


async def test_after_a_clean_close_the_database_file_alone_holds_every_record(
    tmp_path: Path,
) -> None:
    """A copy of journal.db taken after a stop, without its -wal file, is the whole journal,
    even while another process's reader still has the file open (the daemon's children)."""
    path = tmp_path / "journal.db"
    journal = await Journal.open(path)
    for n in range(5):
        await journal.append(message(n))
    assert (tmp_path / "journal.db-wal").stat().st_size > 0  # the records were in the WAL
    other = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert other.execute("SELECT count(*) FROM records").fetchone() == (5,)
    try:
        await journal.close()
    finally:
        other.close()
    copy = tmp_path / "copy" / "journal.db"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    report = verify_chain(copy)
    assert report.ok
    assert report.records == 5
