"""The parts of the PostgreSQL journal that several nodes share, against a real server:
the election of the active consumers, link tests and shared state, and a conclusion
appended by two nodes' rules recorded once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from tests.postgres import Database

from alarmrx.journal.postgres import PostgresJournal
from alarmrx.journal.postgres.connect import conninfo
from alarmrx.journal.postgres.election import Election, lock_conninfo
from alarmrx.journal.postgres.migrate import migrate_schema
from alarmrx.journal.postgres.shared import LinkTest, SharedTables
from alarmrx.journal.records import NewRecord, RecordKind

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(postgres: Database) -> str:
    dsn = conninfo(postgres.dsn, password=postgres.password_file.read_text().strip())
    migrate_schema(dsn)
    return dsn


async def until(condition: Callable[[], bool], within_s: float) -> float:
    """Seconds until ``condition()`` held; fails after ``within_s``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > within_s:
            pytest.fail(f"not within {within_s} s")
        await asyncio.sleep(0.02)
    return loop.time() - started


async def test_one_holder_and_a_takeover_when_its_session_ends(db: str) -> None:
    changes: list[tuple[str, bool]] = []

    def election(name: str) -> Election:
        dsn = lock_conninfo(db, 4.0, f"test-{name}")
        return Election(dsn, takeover_s=4.0, on_change=lambda held: changes.append((name, held)))

    one, two = election("one"), election("two")
    first = asyncio.create_task(one.run())
    await until(lambda: one.held, 5)
    second = asyncio.create_task(two.run())
    await asyncio.sleep(2 * two.retry_s)  # the standby tried, and tried again
    assert (one.held, two.held) == (True, False)
    first.cancel()  # its connection closes: the server frees the lock
    await asyncio.gather(first, return_exceptions=True)
    took = await until(lambda: two.held, 4.0)
    assert took <= 4.0 and changes == [("one", True), ("one", False), ("two", True)]
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)


async def test_the_holder_steps_down_when_its_session_is_killed(db: str) -> None:
    changes: list[bool] = []
    one = Election(lock_conninfo(db, 4.0, "test-victim"), takeover_s=4.0, on_change=changes.append)
    task = asyncio.create_task(one.run())
    await until(lambda: one.held, 5)
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'test-victim'"
        )
    await until(lambda: not one.held, 4.0)  # its next probe failed
    await until(lambda: one.held, 5)  # and it won the free lock again
    assert changes == [True, False, True]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_link_tests_are_read_by_the_other_nodes_newest_first(db: str) -> None:
    one, two = SharedTables(db), SharedTables(db)
    early = LinkTest("1234", "", "1", "udp", "rx1", "10.0.0.1:5000", T0)
    later = LinkTest("1234", "", "1", "udp", "rx2", "10.0.0.2:5000", T0 + timedelta(seconds=5))
    await two.put_links([later])
    await one.put_links([early])  # older than what is stored: kept out
    found, since = await one.links_since(None, "rx1")
    assert found == [later]
    mine, _ = await two.links_since(None, "rx2")
    assert mine == []  # a node does not read its own back
    await two.put_links([LinkTest("5678", "", "", "tcp", "rx2", "10.0.0.3:1", T0)])
    found, _ = await one.links_since(since, "rx1")
    assert [link.account for link in found] == ["1234", "5678"]  # the overlap: seen again
    await two.put("test_sessions", b"\x01\x02")
    assert await one.get("test_sessions") == b"\x01\x02"
    assert await one.get("nothing") is None
    await one.close()
    await two.close()


def conclusion(at: datetime) -> NewRecord:
    key = f"alarm.verified|1234||{at.isoformat()}"
    return NewRecord(
        kind=RecordKind.DERIVED,
        received_at=at,
        account="1234",
        body={"type": "alarm.verified", "key": key, "refs": [1, 2]},
    )


async def test_a_conclusion_appended_by_two_nodes_is_one_record(db: str) -> None:
    async with (
        await PostgresJournal.open(db, chain="rx1") as one,
        await PostgresJournal.open(db, chain="rx2") as two,
    ):
        first = await one.append(conclusion(T0))
        again = await two.append(conclusion(T0))
        other = await two.append(conclusion(T0 + timedelta(seconds=1)))
    assert not first.duplicate and again.duplicate and again.journal_seq == first.journal_seq
    assert not other.duplicate
    with psycopg.connect(db) as conn:
        counted = conn.execute(
            "SELECT r.chain, p.count FROM alarmrx.records AS r "
            "JOIN alarmrx.repeats AS p USING (journal_seq)"
        ).fetchall()
    assert counted == [("rx1", 1)]
