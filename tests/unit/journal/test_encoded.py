"""Records encoded where they are made (a receiver worker, ``chain.encode_new``) are stored
and chained exactly as the same records appended whole; the writer still refuses a receipt
time or kind it would not have written itself."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path

import msgspec
import pytest
from tests.unit.journal.builders import message

from alarmrx.journal import Journal
from alarmrx.journal.chain import encode_new
from alarmrx.journal.errors import InvalidRecordError
from alarmrx.journal.query import query
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.journal.verify import verify_chain


async def test_encoded_records_chain_as_whole_ones(journal: Journal, tmp_path: Path) -> None:
    east = timezone(timedelta(hours=2))
    records = [
        msgspec.structs.replace(
            message(1, key=b"k1"), body={"note": "ünïcode ✓", "events": [], "n": 1.5}
        ),
        msgspec.structs.replace(message(2), received_at=message(2).received_at.astimezone(east)),
        NewRecord(kind=RecordKind.DERIVED, received_at=message(3).received_at, account="1234"),
        message(4, key=b"k1"),  # a retransmission of the first
    ]
    whole = await journal.append_many(records)
    async with await Journal.open(tmp_path / "other.db") as other:
        encoded = await other.append_many([encode_new(r) for r in records])
    assert encoded == whole
    assert [r.hash for r in query(tmp_path / "other.db")] == [r.hash for r in query(journal.path)]
    assert verify_chain(tmp_path / "other.db").ok


@pytest.mark.parametrize(
    "field",
    [
        {"received_at": "2025-03-01T12:00:00"},  # naive
        {"received_at": "2025-03-01T14:00:00.000000+02:00"},  # not UTC: not as stored
        {"received_at": "yesterday"},
        {"kind": "gossip"},
    ],
)
async def test_the_writer_refuses_what_it_would_not_have_written(
    journal: Journal, field: dict[str, str]
) -> None:
    bad = msgspec.structs.replace(encode_new(message(1)), **field)
    with pytest.raises(InvalidRecordError):
        await journal.append_many([bad])
    assert (await journal.append(message(2))).journal_seq == 1
