"""Write failures: the caller gets JournalWriteError (no ACK), the journal reports itself
unhealthy, keeps everything already committed, and recovers by itself when the fault clears."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.tmpfs import tmpfs
from tests.unit.journal.builders import Metrics, message, stored_seqs

from alarmrx.journal import Journal, JournalWriteError, WriterHooks, verify_chain


class Fault:
    """A before_commit hook failing like a full disk while ``active``."""

    def __init__(self) -> None:
        self.active = False

    def __call__(self, _conn: sqlite3.Connection) -> None:
        if self.active:
            raise sqlite3.OperationalError("database or disk is full")


async def test_injected_failure_then_recovery(path: Path) -> None:
    fault, metrics = Fault(), Metrics()
    journal = await Journal.open(path, metrics=metrics, hooks=WriterHooks(before_commit=fault))
    await journal.append_many([message(n) for n in range(3)])
    fault.active = True

    with pytest.raises(JournalWriteError, match="disk is full"):
        await journal.append(message(3))
    assert not journal.healthy
    assert "disk is full" in (journal.last_error or "")
    assert metrics.health[-1] is False
    with pytest.raises(JournalWriteError):
        await journal.save_cursor("mqtt", 3)

    fault.active = False
    assert (await journal.append(message(4))).journal_seq == 4  # the failed one left no hole
    assert journal.healthy
    assert journal.last_error is None
    assert metrics.health[-1] is True
    await journal.close()
    assert stored_seqs(path) == [1, 2, 3, 4]
    assert verify_chain(path).ok


async def test_a_failed_batch_leaves_no_dedupe_trace(path: Path) -> None:
    fault = Fault()
    journal = await Journal.open(path, hooks=WriterHooks(before_commit=fault))
    fault.active = True
    with pytest.raises(JournalWriteError):
        await journal.append(message(1, key=b"k1"))
    fault.active = False

    result = await journal.append(message(1, key=b"k1"))  # the panel's retransmission
    assert (result.journal_seq, result.duplicate) == (1, False)
    await journal.close()


async def test_full_disk_then_space_returns(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "2m") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * 1_000_000)  # the space an operator can free later
        path = disk / "journal.db"
        journal = await Journal.open(path)
        committed, failure = await _append_until_full(journal)
        assert failure is not None, "the tmpfs never filled up"
        assert "full" in str(failure)
        assert not journal.healthy

        filler.unlink()  # an operator frees space; nothing restarts the journal
        after = await journal.append(message(9999, raw=b"x" * 1000))
        assert journal.healthy
        await journal.close()

        assert stored_seqs(path) == [*committed, after.journal_seq]
        assert after.journal_seq == committed[-1] + 1
        assert verify_chain(path).ok


async def _append_until_full(journal: Journal) -> tuple[list[int], JournalWriteError | None]:
    committed: list[int] = []
    for n in range(2000):
        try:
            result = await journal.append(message(n, raw=b"x" * 8000))
        except JournalWriteError as err:
            return committed, err
        committed.append(result.journal_seq)
    return committed, None
