"""verify_chain: an intact chain verifies; each kind of tampering is named at its record."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from pathlib import Path

import pytest
from tests.unit.journal.builders import execute, message

from alarmrx.journal import (
    GENESIS_HASH,
    Content,
    Journal,
    JournalError,
    VerifyProblem,
    canonical_bytes,
    chain_hash,
    verify_chain,
)

# The worked example of docs/journal.md, "Canonical encoding".
DOC_CONTENT = Content(
    journal_seq=1,
    received_at="2025-03-01T12:00:00.000000+00:00",
    kind="message",
    account="1234",
    peer="127.0.0.1:40000",
    transport="tcp",
    reply="ACK",
    priority=3,
    body='{"events":[{"code":"BA","zone":"1"}],"sequence":"0001","token":"SIA-DCS"}',
    raw=b'\n"SIA-DCS"0001L0#1234[#1234|NBA1]\r',
)
DOC_HASH = "ff5535074c77f9a56889a9e892e727f328a1b1c40482611d93e4b9953d4a2799"


def third_party_hash(prev_hash: str, fields: list[str | bytes | None]) -> str:
    """The hash as docs/journal.md describes it, written without the journal's code."""
    data = bytearray(bytes.fromhex(prev_hash))
    for value in ["alarmrx.journal.v1", *fields]:
        if value is None:
            data += b"\x00"
            continue
        raw = value.encode() if isinstance(value, str) else value
        data += b"\x01" + struct.pack(">I", len(raw)) + raw
    return hashlib.sha256(data).hexdigest()


def test_documented_example_hash() -> None:
    c = DOC_CONTENT
    fields: list[str | bytes | None] = [
        "1",
        c.received_at,
        c.kind,
        c.account,
        c.peer,
        c.transport,
        c.reply,
        "3",
        c.body,
        c.raw,
    ]
    assert chain_hash(GENESIS_HASH, c) == third_party_hash(GENESIS_HASH, fields)
    assert chain_hash(GENESIS_HASH, c) == DOC_HASH
    assert canonical_bytes(c).startswith(b"\x01\x00\x00\x00\x12alarmrx.journal.v1\x01")


async def test_stored_records_match_a_third_party_recomputation(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await journal.append_many([message(n, account=None if n else "1234") for n in range(3)])
        records = await journal.read_after(0)
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT journal_seq, received_at, kind, account, peer, transport, reply, priority, "
        "body, raw, prev_hash, hash FROM records ORDER BY journal_seq"
    ).fetchall()
    conn.close()
    for row, record in zip(rows, records, strict=True):
        fields = [str(row[0]), *row[1:7], str(row[7]), row[8], row[9]]
        assert third_party_hash(row[10], fields) == row[11] == record.hash
        assert json.loads(row[8]) == record.body


@pytest.fixture
async def chain(path: Path) -> Path:
    """A journal of ten records, closed."""
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many([message(n) for n in range(10)])
    return path


def test_intact_chain_verifies(chain: Path) -> None:
    report = verify_chain(chain)
    assert report.ok
    assert (report.records, report.first_seq, report.last_seq) == (10, 1, 10)
    assert report.problem is None


async def test_empty_journal_verifies(path: Path) -> None:
    await (await Journal.open(path)).close()
    assert verify_chain(path).ok
    assert verify_chain(path).records == 0


def test_edited_byte_in_raw(chain: Path) -> None:
    execute(
        chain,
        "UPDATE records SET raw = CAST(? AS BLOB) WHERE journal_seq = 4",
        (message(3).raw.replace(b"NBA1", b"NBA2"),),
    )
    report = verify_chain(chain)
    assert (report.ok, report.problem, report.first_bad_seq) == (False, VerifyProblem.EDITED, 4)
    assert report.records == 3


def test_edited_received_at(chain: Path) -> None:
    execute(
        chain,
        "UPDATE records SET received_at = replace(received_at, '12:', '11:') WHERE journal_seq = 7",
    )
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.EDITED, 7)


def test_removed_record(chain: Path) -> None:
    execute(chain, "DELETE FROM records WHERE journal_seq = 5")
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.REMOVED, 5)
    assert "5..5" in report.detail


def test_removed_first_record(chain: Path) -> None:
    execute(chain, "DELETE FROM records WHERE journal_seq = 1")
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.REMOVED, 1)


def test_removed_and_renumbered(chain: Path) -> None:
    execute(chain, "DELETE FROM records WHERE journal_seq = 5")
    execute(chain, "UPDATE records SET journal_seq = journal_seq - 1 WHERE journal_seq > 5")
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.RELINKED, 5)


def test_swapped_records(chain: Path) -> None:
    execute(chain, "UPDATE records SET journal_seq = -1 WHERE journal_seq = 6")
    execute(chain, "UPDATE records SET journal_seq = 6 WHERE journal_seq = 7")
    execute(chain, "UPDATE records SET journal_seq = 7 WHERE journal_seq = -1")
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.REORDERED, 6)


def test_edited_and_rehashed(chain: Path) -> None:
    """Rewriting a record with a fresh hash breaks the link of the next one."""
    conn = sqlite3.connect(chain)
    row = conn.execute(
        "SELECT journal_seq, received_at, kind, account, peer, transport, reply, priority, "
        "body, raw, prev_hash FROM records WHERE journal_seq = 3"
    ).fetchone()
    forged = Content(
        journal_seq=3,
        received_at=row[1],
        kind=row[2],
        account="9999",
        peer=row[4],
        transport=row[5],
        reply=row[6],
        priority=row[7],
        body=row[8],
        raw=row[9],
    )
    conn.execute(
        "UPDATE records SET account = '9999', hash = ? WHERE journal_seq = 3",
        (chain_hash(row[10], forged),),
    )
    conn.commit()
    conn.close()
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.RELINKED, 4)


def test_truncated_tail(chain: Path) -> None:
    execute(chain, "DELETE FROM records WHERE journal_seq >= 9")
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.TRUNCATED, 9)
    assert report.records == 8


def test_record_added_around_the_journal(chain: Path) -> None:
    """A well-formed record chained on by hand: the chain holds, the head table disagrees."""
    conn = sqlite3.connect(chain)
    (head,) = conn.execute("SELECT hash FROM records WHERE journal_seq = 10").fetchone()
    forged = Content(
        journal_seq=11,
        received_at="2025-03-01T13:00:00.000000+00:00",
        kind="message",
        account="1234",
        peer=None,
        transport=None,
        reply=None,
        priority=5,
        body="{}",
        raw=b"",
    )
    conn.execute(
        "INSERT INTO records VALUES (11, ?, 'message', '1234', NULL, NULL, NULL, 5, '{}', ?, "
        "?, ?, NULL)",
        (forged.received_at, b"", head, chain_hash(head, forged)),
    )
    conn.commit()
    conn.close()
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.ADDED, 11)
    assert report.records == 10


def test_record_edited_without_rehash_at_the_end(chain: Path) -> None:
    execute(chain, "UPDATE records SET body = '{}' WHERE journal_seq = 10")
    report = verify_chain(chain)
    assert (report.problem, report.first_bad_seq) == (VerifyProblem.EDITED, 10)


def test_not_a_journal(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    other.write_bytes(b"this is not SQLite at all" * 100)
    with pytest.raises(JournalError, match="not an alarmrx journal"):
        verify_chain(other)
    with pytest.raises(JournalError, match="no journal"):
        verify_chain(tmp_path / "missing.db")
