"""The journal over its local socket: ``JournalService`` (the writer process's side) and
``RemoteJournal`` (every other process), on a real Unix socket and a real SQLite file."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.unit.journal.builders import T0, Metrics, message

from alarmrx.journal import Journal
from alarmrx.journal.errors import (
    InvalidRecordError,
    JournalError,
    JournalWriteError,
    PruneRefusedError,
)
from alarmrx.journal.ipc import Append, Committed, Head, Message, MessageStream, Subscribe, encode
from alarmrx.journal.query import query
from alarmrx.journal.records import AppendResult, NewRecord, RecordKind
from alarmrx.journal.remote import RemoteJournal
from alarmrx.journal.service import JournalService
from alarmrx.journal.verify import verify_chain


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "writer.sock"


@pytest.fixture
async def service(journal: Journal, sock: Path) -> AsyncIterator[JournalService]:
    served = JournalService(journal, sock)
    await served.start()
    yield served
    await served.close()


@pytest.fixture
async def remote(service: JournalService, path: Path, sock: Path) -> AsyncIterator[RemoteJournal]:
    client = await RemoteJournal.connect(path, sock)
    yield client
    await client.close()


async def test_an_append_is_answered_with_its_journal_seq_once_durable(
    remote: RemoteJournal, path: Path
) -> None:
    first = await remote.append(message(1))
    results = await remote.append_many([message(2), message(3)])
    assert [first, *results] == [AppendResult(1), AppendResult(2), AppendResult(3)]
    await remote.wait_for(2)
    assert remote.last_seq == 3
    assert [r.journal_seq for r in await remote.read_after(0)] == [1, 2, 3]
    assert [r.raw for r in query(path)] == [message(n).raw for n in (1, 2, 3)]


async def test_submit_calls_back_with_the_results(remote: RemoteJournal) -> None:
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    remote.submit([message(1)], done.set_result)
    assert await done == [AppendResult(1)]


async def test_appends_from_two_processes_share_one_chain_and_one_dedupe_index(
    service: JournalService, remote: RemoteJournal, path: Path, sock: Path
) -> None:
    async with await RemoteJournal.connect(path, sock, subscribe=False) as other:
        first, again = await asyncio.gather(
            remote.append(message(1, key=b"k1")), other.append(message(1, key=b"k1"))
        )
        await other.append(message(2))
    assert sorted([first.duplicate, again.duplicate]) == [False, True]
    assert first.journal_seq == again.journal_seq
    assert verify_chain(path).ok
    assert [r.repeats for r in query(path)] == [1, 0]


async def test_cursors_are_saved_through_the_writer(remote: RemoteJournal) -> None:
    await remote.append(message(1))
    await remote.save_cursor("mqtt", 1)
    assert await remote.load_cursor("mqtt") == 1
    assert await remote.load_cursor("rules") == 0


@pytest.mark.parametrize(
    "body", [{"x": object()}, {1: "a key that is not a string"}], ids=["object", "int key"]
)
async def test_an_invalid_record_is_refused_and_the_connection_stays(
    remote: RemoteJournal, body: dict[Any, Any]
) -> None:
    bad = NewRecord(kind=RecordKind.MESSAGE, received_at=message(1).received_at, body=body)
    with pytest.raises(InvalidRecordError):
        await remote.append(bad)
    naive = msgspec.structs.replace(
        message(1), received_at=message(1).received_at.replace(tzinfo=None)
    )
    with pytest.raises(InvalidRecordError):
        await remote.append(naive)
    assert (await remote.append(message(1))).journal_seq == 1


async def _until(condition: Callable[[], bool]) -> None:
    """Poll a client's connection state (it has no event to wait on); bounded."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the client's state did not change within 10 s")


async def test_while_the_writer_is_gone_appends_fail_at_once_and_resume_after(
    journal: Journal, service: JournalService, remote: RemoteJournal, path: Path, sock: Path
) -> None:
    await remote.append(message(1))
    await service.close()
    await _until(lambda: not remote.healthy)  # the client saw the connection drop
    with pytest.raises(JournalWriteError):
        remote.submit([message(2)], lambda _result: None)
    assert "journal writer" in (remote.last_error or "")
    again = JournalService(journal, sock)
    await again.start()
    try:
        await _until(lambda: remote.healthy)
        assert (await remote.append(message(2))).journal_seq == 2
    finally:
        await again.close()


async def test_requests_in_flight_fail_when_the_connection_drops(
    service: JournalService, remote: RemoteJournal
) -> None:
    pending = asyncio.ensure_future(remote.append_many([message(n) for n in range(1, 200)]))
    await asyncio.sleep(0)  # sent, not answered yet
    await service.close()
    try:
        await pending
    except JournalWriteError:
        return  # failed: not durable as far as the caller knows (a retry is a repeat)
    assert pending.result()[0].journal_seq == 1  # or it was answered before the close


async def test_garbage_on_the_socket_drops_that_connection_only(
    remote: RemoteJournal, sock: Path
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.connect(str(sock))
        raw.sendall(b"\x00\x00\x00\x05garbage")
        raw.settimeout(5)
        assert await asyncio.to_thread(raw.recv, 100) == b""  # closed by the service
    assert (await remote.append(message(1))).journal_seq == 1


def test_messages_carry_records_unchanged() -> None:
    record = message(7, key=b"key")
    assert encode(Append(1, [record]))[:4] == len(encode(Append(1, [record]))[4:]).to_bytes(
        4, "big"
    )


async def test_no_writer_is_a_clear_error(path: Path, sock: Path) -> None:
    with pytest.raises(JournalError, match="no journal writer"):
        await RemoteJournal.connect(path, sock, within_s=0.3)


async def test_retention_goes_through_the_writer_and_moves_its_head(
    journal: Journal, remote: RemoteJournal, path: Path
) -> None:
    """Pruning runs on the writer's own connection: the checkpoint it chains is the head
    every process sees next, and the chain goes on from it."""
    await remote.append_many([message(n) for n in range(1, 4)])
    now = message(3).received_at + timedelta(days=60)
    report = await remote.prune(before=message(3).received_at, now=now)
    assert (report.pruned, report.through_seq, report.checkpoint_seq) == (2, 2, 4)
    assert journal.last_seq == 4
    await remote.wait_for(3)
    assert remote.last_seq == 4
    assert (await remote.append(message(5))).journal_seq == 5
    assert verify_chain(path).ok
    assert [r.kind for r in query(path)] == [
        RecordKind.MESSAGE,
        RecordKind.CHECKPOINT,
        RecordKind.MESSAGE,
    ]


async def test_retention_refuses_a_young_cut_off(remote: RemoteJournal) -> None:
    await remote.append(message(1))
    at = message(1).received_at
    with pytest.raises(PruneRefusedError):
        await remote.prune(before=at, now=at + timedelta(days=1))


async def test_the_appends_of_one_loop_turn_share_one_message_and_get_their_own_results(
    journal: Journal, remote: RemoteJournal, metrics: Metrics
) -> None:
    done: list[asyncio.Future[list[AppendResult]]] = []
    for n in range(1, 31, 3):  # ten submitters, three records each, in one turn of the loop
        future: asyncio.Future[list[AppendResult]] = asyncio.get_running_loop().create_future()
        remote.submit([message(n), message(n + 1), message(n + 2)], future)
        done.append(future)
    with pytest.raises(InvalidRecordError):  # refused to its caller alone
        remote.submit(
            [message(99), NewRecord(kind=RecordKind.MESSAGE, received_at=T0, body={"x": object()})],
            print,
        )
    results = await asyncio.gather(*done)
    assert [[r.journal_seq for r in rs] for rs in results] == [
        [n, n + 1, n + 2] for n in range(1, 31, 3)
    ]
    assert [batch for _, batch in metrics.commits] == [30]  # one request, one commit
    assert journal.last_seq == 30


async def test_a_follower_of_records_reads_each_commit_without_sqlite(
    service: JournalService, remote: RemoteJournal, path: Path, sock: Path, tmp_path: Path
) -> None:
    """The writer pushes every commit's records: a follower whose own SQLite reader could
    not even open the file reads them all, the same as SQLite gives them."""
    nowhere = tmp_path / "absent" / "journal.db"
    async with await RemoteJournal.connect(nowhere, sock, records=True) as follower:
        await remote.append_many([message(1, key=b"k1"), message(2)])
        await remote.append(message(3))
        await follower.wait_for(2)
        pushed = await follower.read_after(0)
        assert [r.journal_seq for r in pushed] == [1, 2, 3]
        assert pushed == list(query(path))  # body, hashes and all
        assert await follower.read_after(1, limit=1) == pushed[1:2]


async def test_a_repeat_makes_a_follower_read_the_record_anew(
    service: JournalService, remote: RemoteJournal, path: Path, sock: Path
) -> None:
    async with await RemoteJournal.connect(path, sock, records=True) as follower:
        await remote.append(message(1, key=b"k1"))
        await follower.wait_for(0)
        assert [r.repeats for r in await follower.read_after(0)] == [0]
        assert (await remote.append(message(1, key=b"k1"))).duplicate
        await remote.append(message(2))  # the Head after the repeat's commit
        await follower.wait_for(1)
        assert [r.repeats for r in await follower.read_after(0)] == [1, 0]


class _Follower(MessageStream):
    """A raw follower of records: every message it reads, in order."""

    def __init__(self) -> None:
        super().__init__(self._got, lambda: None)
        self.messages: list[Message] = []
        self.heads: asyncio.Queue[Head] = asyncio.Queue()

    def _got(self, message: Message) -> None:
        self.messages.append(message)
        if isinstance(message, Head):
            self.heads.put_nowait(message)


async def test_a_follower_reads_each_commit_before_the_head_that_counts_it(
    remote: RemoteJournal, sock: Path
) -> None:
    _, follower = await asyncio.get_running_loop().create_unix_connection(_Follower, str(sock))
    follower.send(Subscribe(records=True))
    assert (await follower.heads.get()).journal_seq == 0
    await remote.append_many([message(1), message(2)])  # as a receiver worker appends
    await remote.append(message(3))
    while (await asyncio.wait_for(follower.heads.get(), 5)).journal_seq < 3:
        pass
    kinds = [type(m).__name__ for m in follower.messages]
    assert kinds == ["Head", "Committed", "Head", "Committed", "Head"]
    rows = [m.rows for m in follower.messages if isinstance(m, Committed)]
    assert [[row[0] for row in r] for r in rows] == [[1, 2], [3]]
    follower.close()
