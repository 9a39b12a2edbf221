"""The per-account index beside the journal: what readers get through it, when it is
trusted, rebuilt, pruned, and kept up by ``follow``."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from tests.unit.journal.builders import T0, message

from alarmrx.evidence.source import snapshot
from alarmrx.journal import Journal, query
from alarmrx.journal.accounts import AccountIndexer, attach, follow, index_path, lookup
from alarmrx.journal.schema import connect_reader

ACCOUNTS = ("1234", "5678", "9AB0")


async def _fill(path: Path, count: int, *, first: int = 0, seed: int = 1) -> None:
    """``count`` records over three accounts, receipt times shuffled within a day."""
    rng = random.Random(seed)
    records = [
        message(
            n,
            at=T0 + timedelta(seconds=rng.randrange(86_400)),
            account=rng.choice(ACCOUNTS),
        )
        for n in range(first, first + count)
    ]
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many(records)


def _index(path: Path) -> int:
    indexer = AccountIndexer.open(path)
    try:
        while indexer.catch_up():
            pass
        return indexer.position
    finally:
        indexer.close()


def _opened_at(path: Path) -> int:
    """Where an indexer opened on ``path`` starts."""
    indexer = AccountIndexer.open(path)
    try:
        return indexer.position
    finally:
        indexer.close()


def _scanned(path: Path, account: str, since: timedelta, until: timedelta) -> list[int]:
    """The expected answer, worked out without SQL."""
    low, high = T0 + since, T0 + until
    return [
        r.journal_seq for r in query(path) if r.account == account and low <= r.received_at < high
    ]


def _attached(path: Path) -> int | None:
    conn = connect_reader(path)
    try:
        return attach(conn, path)
    finally:
        conn.close()


async def test_reads_through_the_index_and_after_it(path: Path) -> None:
    await _fill(path, 300)
    assert _index(path) == 300
    await _fill(path, 50, first=300, seed=2)  # not indexed yet: found by the scan after it

    assert _attached(path) == 300
    for account in ACCOUNTS:
        for since, until in ((0, 24), (3, 9), (12, 12), (23, 30)):
            window = {"since": T0 + timedelta(hours=since), "until": T0 + timedelta(hours=until)}
            found = [r.journal_seq for r in query(path, account=account, **window)]
            assert found == _scanned(path, account, *(timedelta(hours=h) for h in (since, until)))
        every = [r.journal_seq for r in query(path, account=account)]
        assert every == [r.journal_seq for r in query(path) if r.account == account]
        assert any(seq > 300 for seq in every)


def test_the_index_narrows_the_read() -> None:
    parts = lookup("1234", ((">=", "a"), ("<", "b")), indexed=7)
    assert [where.split(" AND ")[0] for where, _ in parts] == [
        "r.journal_seq IN (SELECT journal_seq FROM accounts.account_index WHERE account = ?",
        "r.journal_seq > ?",
    ]
    assert parts[0][1] == ("1234", 7, "a", "b", "1234", "a", "b")
    assert parts[1][1] == (7, "1234", "a", "b")
    assert lookup("1234", (), None) == (("r.account = ?", ("1234",)),)
    assert lookup(None, ((">=", "a"),), 7) == (("r.received_at >= ?", ("a",)),)


async def test_evidence_reads_an_account_through_the_index(path: Path) -> None:
    await _fill(path, 120)
    _index(path)
    with snapshot(path) as snap:
        sealed = snap.account_records("5678", T0, T0 + timedelta(hours=12))
    assert [s.content.journal_seq for s in sealed] == _scanned(
        path, "5678", timedelta(0), timedelta(hours=12)
    )


async def test_an_index_of_another_journal_is_not_used_and_is_rebuilt(
    path: Path, tmp_path: Path
) -> None:
    await _fill(path, 40)
    other = tmp_path / "other.db"
    await _fill(other, 40, seed=9)
    _index(other)
    index_path(other).rename(index_path(path))  # same seqs, other records

    assert _attached(path) is None
    assert [r.journal_seq for r in query(path, account="1234")] == _scanned(
        path, "1234", timedelta(0), timedelta(days=1)
    )
    assert _opened_at(path) == 0  # started afresh


async def test_a_damaged_index_is_rebuilt(path: Path) -> None:
    await _fill(path, 20)
    index_path(path).write_bytes(b"not a database" * 100)
    assert _attached(path) is None
    assert _index(path) == 20
    assert _attached(path) == 20


def _mark(path: Path, *, boot: str, synced: int) -> None:
    with sqlite3.connect(index_path(path)) as conn:
        conn.execute("UPDATE indexed SET boot = ?, synced = ?", (boot, synced))
    conn.close()


async def test_an_unsynced_index_from_before_a_restart_is_not_trusted(path: Path) -> None:
    await _fill(path, 20)
    _index(path)  # closed cleanly: synced
    assert _attached(path) == 20

    _mark(path, boot="an earlier boot", synced=1)
    assert _attached(path) == 20  # synced at its stop: still good

    _mark(path, boot="an earlier boot", synced=0)  # the machine went down while it ran
    assert _attached(path) is None
    assert _opened_at(path) == 0


def _state(path: Path) -> tuple[int, int]:
    """The index's last journal_seq and whether it is marked synced."""
    conn = sqlite3.connect(index_path(path))
    try:
        return conn.execute("SELECT journal_seq, synced FROM indexed").fetchone()
    finally:
        conn.close()


async def test_while_open_the_index_is_marked_unsynced(path: Path) -> None:
    await _fill(path, 10)
    indexer = AccountIndexer.open(path)
    try:
        indexer.catch_up()
        assert _state(path) == (10, 0)
    finally:
        indexer.close()
    assert _state(path) == (10, 1)


async def test_entries_of_pruned_records_are_dropped(path: Path) -> None:
    records = [message(n, at=T0 + timedelta(days=n), account=ACCOUNTS[n % 3]) for n in range(12)]
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many(records)
        _index(path)
        await journal.prune(before=T0 + timedelta(days=6), now=T0 + timedelta(days=400))
    indexer = AccountIndexer.open(path)
    try:
        assert indexer.forget_pruned() == 6
        assert indexer.forget_pruned() == 0
    finally:
        indexer.close()
    assert [r.journal_seq for r in query(path, account=ACCOUNTS[0])] == [7, 10]


async def test_follow_keeps_up_with_the_journal(path: Path) -> None:
    async with await Journal.open(path, fsync=False) as journal:
        following = asyncio.create_task(follow(journal, path))
        try:
            for batch in range(3):
                await journal.append_many([message(batch * 10 + n) for n in range(10)])
                async with asyncio.timeout(10):  # the file is written by another thread
                    while _attached(path) != journal.last_seq:  # noqa: ASYNC110 - no event to wait on
                        await asyncio.sleep(0.05)
        finally:
            following.cancel()
            with pytest.raises(asyncio.CancelledError):
                await following
    assert _attached(path) == 30


async def test_the_writer_drops_the_index_older_journals_carry_inside(path: Path) -> None:
    await _fill(path, 5)
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE INDEX records_account ON records (account, received_at)")
        conn.commit()
    finally:
        conn.close()
    await _fill(path, 5, first=5)  # the writer opens it again
    conn = sqlite3.connect(path)
    try:
        names = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    finally:
        conn.close()
    assert "records_account" not in names
    assert "records_received_at" in names
    assert len(list(query(path, account="1234"))) == len(
        [r for r in query(path) if r.account == "1234"]
    )
