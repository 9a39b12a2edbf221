"""prune: old records go, a CHECKPOINT keeps what remains verifiable, appends continue."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from tests.unit.journal.builders import T0, count_rows, execute, message, stored_seqs

from alarmrx.journal import (
    Journal,
    PruneRefusedError,
    RecordKind,
    VerifyProblem,
    prune,
    verify_chain,
)

NOW = T0 + timedelta(days=400)


async def _journal(path: Path, count: int) -> None:
    """``count`` records, one per day from T0; the first one was retransmitted once."""
    async with await Journal.open(path, fsync=False) as journal:
        for n in range(count):
            at = T0 + timedelta(days=n)
            await journal.append(message(n, at=at, key=f"k{n}".encode()))
            if n == 0:
                assert (await journal.append(message(n, at=at, key=b"k0"))).duplicate


async def test_prune_keeps_the_chain_verifiable(path: Path) -> None:
    await _journal(path, 10)
    report = prune(path, before=T0 + timedelta(days=4), now=NOW)

    assert (report.pruned, report.through_seq, report.checkpoint_seq) == (4, 4, 11)
    assert stored_seqs(path) == [5, 6, 7, 8, 9, 10, 11]
    assert count_rows(path, "repeats") == 0
    verified = verify_chain(path)
    assert verified.ok
    assert (verified.first_seq, verified.last_seq, verified.records) == (5, 11, 7)

    async with await Journal.open(path) as journal:
        checkpoint = (await journal.read_after(10))[0]
        assert checkpoint.kind is RecordKind.CHECKPOINT
        assert checkpoint.body["pruned_through_seq"] == 4
        assert checkpoint.received_at == NOW
        assert (await journal.append(message(11))).journal_seq == 12
    assert verify_chain(path).records == 8


async def test_prune_twice(path: Path) -> None:
    await _journal(path, 6)
    prune(path, before=T0 + timedelta(days=2), now=NOW)
    second = prune(path, before=NOW - timedelta(weeks=6), now=NOW)

    assert (second.pruned, second.through_seq, second.checkpoint_seq) == (4, 6, 8)
    assert stored_seqs(path) == [7, 8]  # the first checkpoint is younger than the cut-off
    assert verify_chain(path).ok


async def test_nothing_to_prune(path: Path) -> None:
    await _journal(path, 3)
    report = prune(path, before=T0, now=NOW)
    assert (report.pruned, report.checkpoint_seq) == (0, None)
    assert stored_seqs(path) == [1, 2, 3]


async def test_only_a_prefix_goes_when_the_clock_stepped_back(path: Path) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        for day in (0, 1, 5, 2, 6):  # the fourth record's clock was behind
            await journal.append(message(day, at=T0 + timedelta(days=day)))
    report = prune(path, before=T0 + timedelta(days=3), now=NOW)
    assert report.through_seq == 2
    assert stored_seqs(path) == [3, 4, 5, 6]
    assert verify_chain(path).ok


async def test_refuses_a_recent_cut_off(path: Path) -> None:
    await _journal(path, 3)
    with pytest.raises(PruneRefusedError, match="younger than 42 days"):
        prune(path, before=NOW - timedelta(weeks=5), now=NOW)
    with pytest.raises(PruneRefusedError):
        prune(path, before=NOW - timedelta(days=2), now=NOW, min_age=timedelta(days=3))
    assert prune(path, before=NOW - timedelta(days=3), now=NOW, min_age=timedelta(days=3)).pruned
    assert verify_chain(path).ok


async def test_refuses_a_chain_that_does_not_verify(path: Path) -> None:
    await _journal(path, 5)
    execute(path, "UPDATE records SET account = '0000' WHERE journal_seq = 2")
    with pytest.raises(PruneRefusedError, match="edited at record 2"):
        prune(path, before=T0 + timedelta(days=4), now=NOW)
    assert stored_seqs(path) == [1, 2, 3, 4, 5]


async def test_a_pruned_start_without_its_checkpoint_is_reported(path: Path) -> None:
    await _journal(path, 5)
    prune(path, before=T0 + timedelta(days=2), now=NOW)
    execute(path, "DELETE FROM records WHERE kind = 'checkpoint'")
    execute(
        path,
        "UPDATE chain_head SET journal_seq = 5, "
        "hash = (SELECT hash FROM records WHERE journal_seq = 5)",
    )
    report = verify_chain(path)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.REMOVED, 2)
