"""Retransmissions: one record per dedupe key within the window, the repeats counted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from tests.unit.journal.builders import T0, Metrics, message

from alarmrx.journal import AppendResult, Journal, verify_chain


async def test_same_key_within_window_is_one_record(journal: Journal, metrics: Metrics) -> None:
    first = await journal.append(message(1, at=T0, key=b"1234/0001"))
    again = await journal.append(message(1, at=T0 + timedelta(seconds=30), key=b"1234/0001"))
    third = await journal.append(message(1, at=T0 + timedelta(seconds=119), key=b"1234/0001"))

    assert first == AppendResult(journal_seq=1)
    assert again == third == AppendResult(journal_seq=1, duplicate=True)
    [record] = await journal.read_after(0)
    assert record.repeats == 2
    assert metrics.appended == ["message"]
    assert journal.last_seq == 1


async def test_same_key_after_window_is_a_new_record(journal: Journal) -> None:
    await journal.append(message(1, at=T0, key=b"k"))
    later = await journal.append(message(1, at=T0 + timedelta(seconds=121), key=b"k"))
    again = await journal.append(message(1, at=T0 + timedelta(seconds=150), key=b"k"))

    assert later == AppendResult(journal_seq=2)
    assert again == AppendResult(journal_seq=2, duplicate=True)


async def test_clock_stepped_back_still_matches(journal: Journal) -> None:
    await journal.append(message(1, at=T0, key=b"k"))
    earlier = await journal.append(message(1, at=T0 - timedelta(seconds=5), key=b"k"))
    assert earlier.duplicate


async def test_duplicates_inside_one_batch(journal: Journal) -> None:
    results = await asyncio.gather(
        *(journal.append(message(n % 3, at=T0, key=bytes([n % 3]))) for n in range(9))
    )

    assert sorted({r.journal_seq for r in results}) == [1, 2, 3]
    assert sum(r.duplicate for r in results) == 6
    assert [r.repeats for r in await journal.read_after(0)] == [2, 2, 2]


async def test_records_without_key_are_never_merged(journal: Journal) -> None:
    results = [await journal.append(message(1, at=T0)) for _ in range(3)]
    assert [r.journal_seq for r in results] == [1, 2, 3]


async def test_dedupe_survives_reopen(path: Path) -> None:
    journal = await Journal.open(path)
    await journal.append(message(1, at=T0, key=b"old"))
    await journal.append(message(2, at=T0 + timedelta(seconds=200), key=b"recent"))
    await journal.close()

    journal = await Journal.open(path)
    recent = await journal.append(message(2, at=T0 + timedelta(seconds=210), key=b"recent"))
    old = await journal.append(message(1, at=T0 + timedelta(seconds=220), key=b"old"))
    await journal.close()

    assert recent == AppendResult(journal_seq=2, duplicate=True)
    assert old == AppendResult(journal_seq=3)  # the original fell out of the window
    assert verify_chain(path).records == 3


async def test_window_is_configurable(path: Path) -> None:
    journal = await Journal.open(path, dedupe_window_s=5)
    await journal.append(message(1, at=T0, key=b"k"))
    result = await journal.append(message(1, at=T0 + timedelta(seconds=6), key=b"k"))
    await journal.close()
    assert not result.duplicate


async def test_repeats_stay_outside_the_chain(journal: Journal, path: Path) -> None:
    await journal.append(message(1, at=T0, key=b"k"))
    before = verify_chain(path)
    await journal.append(message(1, at=T0, key=b"k"))
    after = verify_chain(path)
    assert after.ok
    assert after.last_hash == before.last_hash
