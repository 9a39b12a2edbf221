"""The PostgreSQL journal against a real PostgreSQL (tests/postgres.py): appends, group
commit, per-node chains written concurrently, dedupe across nodes, cursors, the read horizon,
a failed commit and the reconnect after it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from tests.postgres import Database, PostgreSQL, free_port

from alarmrx.journal import AppendResult, JournalError, JournalWriteError, NewRecord, RecordKind
from alarmrx.journal.postgres import PostgresJournal
from alarmrx.journal.postgres.connect import conninfo
from alarmrx.journal.postgres.migrate import migrate_schema
from alarmrx.journal.postgres.query import query
from alarmrx.journal.postgres.verify import verify_chains
from alarmrx.journal.verify import VerifyProblem

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def dsn(db: Database) -> str:
    return conninfo(db.dsn, password=db.password_file.read_text().strip())


@pytest.fixture
def db(postgres: Database) -> str:
    """A database with the journal schema; its connection string."""
    migrate_schema(dsn(postgres))
    return dsn(postgres)


def message(n: int, *, key: bytes | None = None, at: datetime = T0) -> NewRecord:
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=at + timedelta(milliseconds=n),
        account="1234",
        body={"sequence": f"{n:04d}", "events": [{"code": "BA", "zone": n}]},
        raw=f'"SIA-DCS"{n:04d}#1234[#1234|NBA{n}]'.encode(),
        peer="127.0.0.1:5000",
        transport="tcp",
        reply="ACK",
        dedupe_key=key,
    )


@dataclass
class Commits:
    """A JournalMetrics that keeps what it is told."""

    batches: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    health: list[bool] = field(default_factory=list)

    def observe_commit(self, seconds: float, batch_size: int) -> None:
        self.batches.append(batch_size)

    def record_appended(self, kind: str, count: int = 1) -> None:
        self.kinds += [kind] * count

    def set_healthy(self, healthy: bool) -> None:
        self.health.append(healthy)


def rows(db: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


async def test_append_is_readable_and_verifies(db: str) -> None:
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        first = await journal.append(message(1))
        more = await journal.append_many([message(2), message(3)])
        assert [first.journal_seq, *(r.journal_seq for r in more)] == [1, 2, 3]
        await journal.wait_for(2)
        records = await journal.read_after(0)
    assert [(r.chain, r.chain_seq, r.body["sequence"]) for r in records] == [
        ("rx1", 1, "0001"),
        ("rx1", 2, "0002"),
        ("rx1", 3, "0003"),
    ]
    assert records[1].prev_hash == records[0].hash
    assert records[0].raw == message(1).raw
    report = verify_chains(db)
    assert report.ok and report.records == 3
    assert dict(report.chains)["rx1"].last_hash == records[-1].hash


async def test_submitted_records_share_one_commit_and_callbacks_follow_it(db: str) -> None:
    commits = Commits()
    results: list[list[AppendResult] | JournalError] = []
    async with await PostgresJournal.open(db, chain="rx1", metrics=commits) as journal:
        for n in range(200):  # all queued before the writer runs: one group
            journal.submit([message(n)], results.append)
        await journal.append(message(999))
    assert len(results) == 200 and all(isinstance(r, list) for r in results)
    assert sum(commits.batches) == 201
    assert len(commits.batches) < 10, commits.batches  # grouped, not one commit each
    assert commits.kinds.count("message") == 201
    assert verify_chains(db).records == 201


async def test_a_bad_record_fails_alone(db: str) -> None:
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        bad = NewRecord(kind=RecordKind.MESSAGE, received_at=T0, body={"x": object()})
        outcomes = await asyncio.gather(
            journal.append(message(1)), journal.append(bad), return_exceptions=True
        )
    assert isinstance(outcomes[0], AppendResult)
    assert isinstance(outcomes[1], JournalError)
    assert verify_chains(db).records == 1


async def test_two_nodes_write_their_own_chains_at_once(db: str) -> None:
    async with (
        await PostgresJournal.open(db, chain="rx1") as one,
        await PostgresJournal.open(db, chain="rx2") as two,
        await PostgresJournal.open(db, chain="reader") as reader,
    ):

        async def write(journal: PostgresJournal, base: int) -> list[int]:
            seqs: list[int] = []
            for n in range(20):  # batches of five, the two nodes interleaved
                batch = [message(base + 5 * n + i) for i in range(5)]
                seqs += [r.journal_seq for r in await journal.append_many(batch)]
            return seqs

        first, second = await asyncio.gather(write(one, 0), write(two, 10_000))
        assert len(set(first) | set(second)) == 200
        await reader.wait_for(max(first + second) - 1)
        seen: list[Any] = []
        while len(seen) < 200:
            seen += await reader.read_after(seen[-1].journal_seq if seen else 0)
    assert [r.journal_seq for r in seen] == sorted(first + second)
    by_chain = {c: [r.chain_seq for r in seen if r.chain == c] for c in ("rx1", "rx2")}
    assert by_chain == {"rx1": list(range(1, 101)), "rx2": list(range(1, 101))}
    report = verify_chains(db)
    assert report.ok and [name for name, _ in report.chains] == ["rx1", "rx2"]


async def test_a_retransmission_to_another_node_is_one_record(db: str) -> None:
    async with (
        await PostgresJournal.open(db, chain="rx1") as one,
        await PostgresJournal.open(db, chain="rx2") as two,
    ):
        original = await one.append(message(1, key=b"k1"))
        # the ACK was lost; the panel tries its backup receiver a little later
        again = await two.append(message(1, key=b"k1", at=T0 + timedelta(seconds=5)))
        assert again == AppendResult(journal_seq=original.journal_seq, duplicate=True)
        # both nodes at once, the same frame: one record, one repeat
        racing = await asyncio.gather(
            one.append(message(2, key=b"k2")), two.append(message(2, key=b"k2"))
        )
        # outside the window the same key is a new event
        later = await two.append(message(1, key=b"k1", at=T0 + timedelta(minutes=10)))
        await one.wait_for(later.journal_seq - 1)
        records = await one.read_after(0)
    assert sorted(r.duplicate for r in racing) == [False, True]
    assert racing[0].journal_seq == racing[1].journal_seq
    assert not later.duplicate and later.journal_seq != original.journal_seq
    assert [(r.body["sequence"], r.repeats) for r in records] == [
        ("0001", 1),
        ("0002", 1),
        ("0001", 0),
    ]
    assert verify_chains(db).ok


async def test_a_retransmission_within_one_batch_is_counted(db: str) -> None:
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        results = await journal.append_many([message(1, key=b"k"), message(1, key=b"k")])
        records = await journal.read_after(0)
    assert results == [AppendResult(1), AppendResult(1, duplicate=True)]
    assert [r.repeats for r in records] == [1]


async def test_cursors_are_shared_by_the_nodes(db: str) -> None:
    async with (
        await PostgresJournal.open(db, chain="rx1") as one,
        await PostgresJournal.open(db, chain="rx2") as two,
    ):
        assert await two.load_cursor("mqtt") == 0
        await one.save_cursor("mqtt", 41)
        await one.save_cursor("mqtt", 42)
        assert await two.load_cursor("mqtt") == 42


async def test_the_horizon_waits_for_a_node_still_committing(db: str) -> None:
    """A record committed after one with a higher journal_seq is never skipped."""
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        await journal.append(message(1))
        await journal.wait_for(0)
        with psycopg.connect(db) as other:  # another node, in the middle of its transaction
            other.execute("SELECT pg_current_xact_id()")
            (held,) = other.execute("SELECT nextval('alarmrx.journal_seq_order')").fetchone()
            after = await journal.append(message(3))
            assert after.journal_seq > held
            await journal.read_after(0)  # probes while the other transaction runs
            assert journal.last_seq < held
            assert [r.journal_seq for r in await journal.read_after(0)] == [1]
            other.rollback()
        await journal.wait_for(after.journal_seq - 1)
        assert [r.journal_seq for r in await journal.read_after(0)] == [1, after.journal_seq]


async def test_a_failed_commit_fails_the_whole_batch_and_the_next_reconnects(
    own_postgres: PostgreSQL,
) -> None:
    db = dsn(own_postgres.create_database())
    migrate_schema(db)
    commits = Commits()
    journal = await PostgresJournal.open(db, chain="rx1", metrics=commits)
    try:
        await journal.append(message(1))
        await journal.wait_for(0)
        tailer = asyncio.create_task(journal.wait_for(1))  # a consumer waiting for more
        own_postgres.stop("immediate")
        results: list[Any] = []
        for n in range(2, 7):  # one batch
            journal.submit([message(n)], results.append)
        with pytest.raises(JournalWriteError):
            await journal.append(message(7))
        assert len(results) == 5 and all(isinstance(r, JournalWriteError) for r in results)
        assert not journal.healthy and journal.last_error
        assert commits.health[-1] is False
        with pytest.raises(JournalError, match="reading the PostgreSQL journal"):
            await journal.read_after(0)  # a read fails while the server is away …
        assert not tailer.done()  # … and a waiting consumer waits through the outage
        own_postgres.start()
        again = await journal.append(message(8))
        assert journal.healthy and commits.health[-1] is True
        await asyncio.wait_for(tailer, 30)
    finally:
        await journal.close()
    records = list(query(db))
    assert [r.body["sequence"] for r in records] == ["0001", "0008"]
    assert [r.chain_seq for r in records] == [1, 2] and records[1].journal_seq == again.journal_seq
    assert verify_chains(db).ok


async def test_verify_names_an_edited_record_and_its_chain(db: str) -> None:
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        await journal.append_many([message(n) for n in range(1, 4)])
    async with await PostgresJournal.open(db, chain="rx2") as journal:
        await journal.append(message(9))
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE alarmrx.records SET body = '{}' WHERE chain = 'rx1' AND chain_seq = 2")
    report = dict(verify_chains(db).chains)
    assert report["rx1"].problem is VerifyProblem.EDITED and report["rx1"].first_bad_seq == 2
    assert report["rx2"].ok


async def test_verify_finds_records_removed_from_the_end(db: str) -> None:
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        await journal.append_many([message(n) for n in range(1, 4)])
    with psycopg.connect(db) as conn:
        conn.execute("DELETE FROM alarmrx.records WHERE chain_seq = 3")
    report = dict(verify_chains(db).chains)["rx1"]
    assert report.problem is VerifyProblem.TRUNCATED and report.first_bad_seq == 3


async def test_open_refuses_a_database_without_the_schema(postgres: Database) -> None:
    with pytest.raises(JournalError, match="journal migrate"):
        await PostgresJournal.open(dsn(postgres), chain="rx1")


async def test_the_processes_of_one_node_write_its_chain_in_turn(db: str) -> None:
    """Two writers of one chain (two workers of a node): each batch locks the head, so
    neither forks the chain and neither fails."""
    async with (
        await PostgresJournal.open(db, chain="rx1") as one,
        await PostgresJournal.open(db, chain="rx1") as same,
    ):
        await one.append(message(1))
        await same.append(message(2))  # its head is read anew under the lock
        results = await asyncio.gather(
            *(journal.append(message(n)) for n in range(3, 43) for journal in (one, same))
        )
    assert len({r.journal_seq for r in results}) == 80
    records = list(query(db))
    assert [r.chain_seq for r in records] == list(range(1, 83))
    report = verify_chains(db)
    assert report.ok and [name for name, _ in report.chains] == ["rx1"]


REFUSE_COMMIT = """
CREATE TABLE public.refuse_commit (reason text);
CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.refuse_commit) THEN
        RAISE EXCEPTION 'commit refused for the test';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON alarmrx.records
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.refuse();
"""


async def test_a_refused_commit_acks_nothing_and_stores_nothing(db: str) -> None:
    """COMMIT itself fails (a deferred constraint trigger): every request of the batch fails,
    its dedupe keys are not kept, and the chain goes on without a hole."""
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(REFUSE_COMMIT)
    async with await PostgresJournal.open(db, chain="rx1") as journal:
        await journal.append(message(1))
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("INSERT INTO public.refuse_commit VALUES ('test')")
        results: list[Any] = []
        for n in range(2, 6):
            journal.submit([message(n, key=b"k%d" % n)], results.append)
        cursor = journal.save_cursor("mqtt", 1)
        with pytest.raises(JournalWriteError, match="commit refused for the test"):
            await cursor
        assert len(results) == 4 and all(isinstance(r, JournalWriteError) for r in results)
        assert not journal.healthy
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute("DELETE FROM public.refuse_commit")
        retried = await journal.append(message(2, key=b"k2"))  # the panel's retransmission
        assert not retried.duplicate and journal.healthy
        assert await journal.load_cursor("mqtt") == 0
    records = list(query(db))
    assert [(r.chain_seq, r.body["sequence"]) for r in records] == [(1, "0001"), (2, "0002")]
    assert verify_chains(db).ok


async def test_open_fails_in_one_error_when_the_server_is_unreachable(
    postgres: Database,
) -> None:
    unreachable = dsn(postgres).replace(f"port={postgres.port}", f"port={free_port()}")
    with pytest.raises(JournalError, match="cannot open the PostgreSQL journal"):
        await PostgresJournal.open(unreachable, chain="rx1")


WRITER = """
import asyncio, json, sys
from datetime import UTC, datetime, timedelta
from alarmrx.journal import NewRecord, RecordKind
from alarmrx.journal.postgres import PostgresJournal

async def main(dsn, chain, count):
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    async with await PostgresJournal.open(dsn, chain=chain) as journal:
        print("ready", flush=True)
        sys.stdin.readline()
        results = []
        for start in range(0, count, 10):
            batch = [NewRecord(kind=RecordKind.MESSAGE, received_at=t0 + timedelta(seconds=n),
                               account="1234", body={"n": n}, dedupe_key=b"frame-%d" % n)
                     for n in range(start, min(start + 10, count))]
            results += [[r.journal_seq, r.duplicate] for r in await journal.append_many(batch)]
    print(json.dumps(results), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def test_two_node_processes_sent_the_same_frames_keep_one_record_each(db: str) -> None:
    """Every frame reaches both nodes (a panel retrying on its backup receiver), the two
    processes writing at once: one record per frame, the other copy counted as a repeat."""
    count = 200
    nodes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db, chain, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for chain in ("rx1", "rx2")
    ]
    for node in nodes:
        assert node.stdout is not None and node.stdout.readline() == "ready\n"
    for node in nodes:  # both start together
        assert node.stdin is not None
        node.stdin.write("go\n")
        node.stdin.flush()
    outputs = [node.communicate(timeout=120)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0]
    one, two = (json.loads(output) for output in outputs)
    for n in range(count):  # both nodes name the same record; exactly one of them made it
        assert one[n][0] == two[n][0]
        assert sorted([one[n][1], two[n][1]]) == [False, True]
    records = list(query(db))
    assert len(records) == count and {r.repeats for r in records} == {1}
    assert sorted(r.body["n"] for r in records) == list(range(count))
    report = verify_chains(db)
    assert report.ok and report.records == count
