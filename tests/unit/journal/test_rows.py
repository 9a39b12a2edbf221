"""Records built from stored rows: every field set, as ``Record.__init__`` would set it."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

from alarmrx.journal.records import Record, RecordKind
from alarmrx.journal.rows import record_from_row, record_from_stored

ROW = (
    7,
    "2026-01-05T12:00:00.250000+00:00",
    "message",
    "1234",
    "127.0.0.1:5000",
    "tcp",
    "ACK",
    3,
    '{"sequence": "0042", "events": []}',
    b'"SIA-DCS"0042L0#1234[#1234|Nri1/BA01]',
    "a" * 64,
    "b" * 64,
)


def built(repeats: int) -> Record:
    return Record(
        journal_seq=7,
        kind=RecordKind.MESSAGE,
        received_at=datetime(2026, 1, 5, 12, 0, 0, 250000, tzinfo=UTC),
        account="1234",
        body={"sequence": "0042", "events": []},
        raw=ROW[9],
        peer="127.0.0.1:5000",
        transport="tcp",
        reply="ACK",
        priority=3,
        hash="b" * 64,
        prev_hash="a" * 64,
        repeats=repeats,
    )


def test_a_stored_row_gives_the_record_its_fields_say() -> None:
    record = record_from_stored(ROW)
    assert record == built(0)
    assert record_from_row((*ROW, 2)) == built(2)


def test_every_field_of_a_record_read_from_a_row_is_set() -> None:
    record, expected = record_from_stored(ROW), built(0)
    for field in fields(Record):
        if field.name not in {"typed", "stored_body"}:
            assert getattr(record, field.name) == getattr(expected, field.name), field.name
    assert record.typed is None
    assert record.stored_body == ROW[8]
    assert isinstance(record.raw, bytes)
    assert record.kind is RecordKind.MESSAGE
