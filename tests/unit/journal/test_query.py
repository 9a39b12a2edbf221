"""query filters and the JSON line shape; raw frames as escaped text and back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.journal.builders import T0, message

from alarmrx.journal import (
    Journal,
    JournalError,
    escape_raw,
    query,
    record_json,
    unescape_raw,
)


@pytest.fixture
async def filled(path: Path) -> Path:
    """Accounts 1234 and 5678 alternating, one record a minute from T0."""
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append_many(
            [
                message(n, at=T0 + timedelta(minutes=n), account=("1234", "5678")[n % 2])
                for n in range(10)
            ]
        )
    return path


def _seqs(path: Path, **filters: object) -> list[int]:
    return [r.journal_seq for r in query(path, **filters)]  # type: ignore[arg-type]


def test_query_filters(filled: Path) -> None:
    assert _seqs(filled) == list(range(1, 11))
    assert _seqs(filled, account="5678") == [2, 4, 6, 8, 10]
    assert _seqs(filled, since=T0 + timedelta(minutes=7)) == [8, 9, 10]
    assert _seqs(filled, until=T0 + timedelta(minutes=2)) == [1, 2]  # until is exclusive
    window = {"since": T0 + timedelta(minutes=2), "until": T0 + timedelta(minutes=6)}
    assert _seqs(filled, account="1234", **window) == [3, 5]
    assert _seqs(filled, account="0000") == []


def test_query_of_a_missing_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal"):
        query(tmp_path / "missing.db")


def test_record_json_shape(filled: Path) -> None:
    record = next(iter(query(filled, account="5678")))
    line = record_json(record)

    assert line["journal_seq"] == 2
    assert line["received_at"] == "2025-03-01T12:01:00.000000+00:00"
    assert (line["account"], line["sequence"], line["token"]) == ("5678", "0001", "SIA-DCS")
    assert line["events"] == [{"code": "BA", "zone": "1"}]
    assert line["test"] is False and "test" not in line["body"]  # absent in the body: false
    assert line["raw"] == '<LF>"SIA-DCS"0001L0#5678[#5678|NBA1]<CR>'
    assert line["hash"] == record.hash
    assert line["prev_hash"] == record.prev_hash
    assert (line["kind"], line["transport"], line["reply"], line["repeats"]) == (
        "message",
        "tcp",
        "ACK",
        0,
    )


async def test_record_json_copies_a_test_flag(path: Path) -> None:
    flagged = message(1)
    flagged.body["test"] = True  # the receiver's flag for an account in test mode
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append(flagged)
    (record,) = query(path)
    assert record_json(record)["test"] is True


def test_escape_notation() -> None:
    assert escape_raw(b"\nA<B\x00\xff\r") == "<LF>A<0x3C>B<0x00><0xFF><CR>"
    assert escape_raw(b"\\n") == "<0x5C>n"


@given(st.binary(max_size=200))
def test_escape_round_trip(raw: bytes) -> None:
    text = escape_raw(raw)
    assert text.isascii()
    assert text.isprintable()
    assert unescape_raw(text) == raw
