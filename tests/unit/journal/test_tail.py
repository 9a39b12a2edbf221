"""The tail in memory answers ``read_after`` exactly as SQLite would."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

from tests.unit.journal.builders import message

from alarmrx.journal import Journal
from alarmrx.journal.records import Record
from alarmrx.journal.rows import SELECT_RECORDS, record_from_row
from alarmrx.journal.tail import Tail


def from_sqlite(path: Path, after: int, limit: int) -> list[Record]:
    conn = sqlite3.connect(path)
    try:
        sql = f"{SELECT_RECORDS} WHERE r.journal_seq > ? ORDER BY r.journal_seq LIMIT ?"
        return [record_from_row(row) for row in conn.execute(sql, (after, limit))]
    finally:
        conn.close()


async def test_a_second_reader_gets_what_sqlite_gives(journal: Journal, path: Path) -> None:
    await journal.append_many([message(n) for n in range(10)])
    first = await journal.read_after(0, limit=500)
    again = await journal.read_after(3, limit=4)
    assert again == from_sqlite(path, 3, 4)
    assert all(a is b for a, b in zip(again, first[3:7], strict=True))  # from memory
    assert await journal.read_after(10, limit=500) == []


async def test_records_not_yet_read_come_from_sqlite(journal: Journal, path: Path) -> None:
    await journal.append_many([message(n) for n in range(3)])
    await journal.read_after(0)
    await journal.append_many([message(n) for n in range(3, 6)])
    assert await journal.read_after(2) == from_sqlite(path, 2, 500)


async def test_a_retransmission_is_counted_in_the_next_read(journal: Journal, path: Path) -> None:
    original = await journal.append(message(1, key=b"k1"))
    [before] = await journal.read_after(0)
    again = await journal.append(message(1, key=b"k1"))
    assert again.duplicate
    [after] = await journal.read_after(0)
    assert (before.repeats, after.repeats) == (0, 1)
    assert after == from_sqlite(path, 0, 1)[0]
    assert original.journal_seq == after.journal_seq


async def test_the_same_read_at_once_goes_to_sqlite_once(journal: Journal) -> None:
    await journal.append_many([message(n) for n in range(5)])
    one, two = await asyncio.gather(journal.read_after(0), journal.read_after(0))
    assert one == two
    assert one is not two
    assert all(a is b for a, b in zip(one, two, strict=True))


def _records(count: int) -> list[Record]:
    """Records 1..count, alike but for their place."""
    base = Record(
        journal_seq=0,
        kind="message",
        received_at=None,
        account=None,
        body={},  # type: ignore[arg-type]
        raw=b"",
        peer=None,
        transport=None,
        reply=None,
        priority=5,
        hash="",
        prev_hash="",
    )
    return [replace(base, journal_seq=n) for n in range(1, count + 1)]


def test_tail_keeps_the_newest_and_answers_only_when_complete() -> None:
    tail = Tail(capacity=3)
    records = _records(5)
    tail.keep(records)
    assert len(tail) == 3
    assert tail.after(2, 10, head_seq=5) == records[2:]
    assert tail.after(1, 10, head_seq=5) is None  # 2 was dropped
    assert tail.after(3, 1, head_seq=5) == [records[3]]
    assert tail.after(5, 10, head_seq=5) == []
    assert tail.after(3, 0, head_seq=5) is None
    tail.forget(4)
    assert tail.after(3, 10, head_seq=5) is None


def test_a_record_kept_again_is_among_the_newest() -> None:
    tail = Tail(capacity=3)
    records = _records(5)
    tail.keep(records[:3])  # 1, 2, 3
    reread = replace(records[0], repeats=1)
    tail.keep([reread])  # 1 again (a read from SQLite): now the newest, 2 the oldest
    tail.keep([records[3]])  # 4 pushes out 2, not 1
    assert tail.after(0, 1, head_seq=5) == [reread]
    assert tail.after(1, 1, head_seq=5) is None
    assert tail.after(2, 2, head_seq=5) == records[2:4]
    tail.forget(3)
    tail.keep([records[1], records[2]])  # 2 and 3 again, below the newest kept (4)
    assert tail.after(1, 3, head_seq=5) == records[1:4]
    assert tail.after(0, 1, head_seq=5) is None  # 1 went first: it was the oldest kept
