"""Typed views of record bodies: what the receiver and the rules write reads back whole,
journals of earlier versions read as they are, an odd value hides nothing else, the view
is built once per record, and nothing stored (the JSON, the hash chain) changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from tests.unit.builders import cid, derived, message, sia, stored

from alarmrx.journal import bodies
from alarmrx.journal.bodies import (
    AnchorBody,
    CardBody,
    CommandBody,
    DispatchAdvice,
    EventBody,
    MessageBody,
    OtherDerived,
)
from alarmrx.journal.canonical import canonical_body, format_received_at
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.journal.rows import record_from_stored
from alarmrx.journal.verify import verify_chain
from alarmrx.rules.derived import Derived, DerivedType, new_record

T = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_a_message_reads_back_whole() -> None:
    new = message("1234", sia("BA", "alarm", zone=3, area=1), cid("602", 1, "test"))
    typed = bodies.message(stored(new, 7))
    assert isinstance(typed, MessageBody)
    assert len(typed.events) == len(new.body["events"]) == 2
    for got, sent in zip(typed.events, new.body["events"], strict=True):
        assert {name: getattr(got, name) for name in sent} == sent
    assert (typed.token, typed.sequence, typed.encrypted) == (
        new.body["token"],
        new.body["sequence"],
        new.body["encrypted"],
    )
    assert typed.events[1].contact_id and not typed.events[0].contact_id


def test_a_body_of_an_earlier_version_reads_as_it_is() -> None:
    old = NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=T,
        account="1",
        body={"token": "SIA-DCS", "events": [{"code": "BA", "zone": 1}], "some_day": {"x": 1}},
    )
    typed = bodies.message(stored(old, 1))
    assert typed is not None and typed.events == (EventBody(code="BA", zone=1),)
    assert (typed.quirks, typed.xdata, typed.clock, typed.test) == ((), (), None, None)


def test_an_odd_value_hides_nothing_else() -> None:
    odd = NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=T,
        account="1",
        body={
            "token": 5,
            "sequence": "0042",
            "events": [{"code": "BA", "zone": [1]}, {"code": "BR", "zone": 2}],
        },
    )
    typed = bodies.message(stored(odd, 1))
    assert typed is not None and typed.token is None and typed.sequence == "0042"
    assert typed.events == (EventBody(code="BR", zone=2),)


def test_derived_bodies_are_a_union_tagged_by_type() -> None:
    advice = Derived(
        type=DerivedType.DISPATCH_ADVICE,
        account="1",
        at=T,
        key="dispatch.advice|1|3|0",
        description="advice",
        refs=(3,),
        fields={"alarm_seq": 3, "index": 0, "dispatch": {"police": True}},
    )
    typed = bodies.derived(stored(new_record(advice), 4))
    assert isinstance(typed, DispatchAdvice)
    assert (typed.type, typed.alarm_seq, typed.index, typed.refs) == (
        "dispatch.advice",
        3,
        0,
        (3,),
    )
    assert typed.dispatch == {"police": True}
    red = stored(derived("1", "card.red", "status"), 5)
    assert isinstance(bodies.derived(red), CardBody)
    future = bodies.derived(stored(derived("1", "some.future_type", "status"), 6))
    assert isinstance(future, OtherDerived) and future.type == "some.future_type"


def test_command_and_anchor_bodies() -> None:
    command = NewRecord(
        kind=RecordKind.COMMAND,
        received_at=T,
        account="1",
        body={"action": "verify", "accepted": True, "journal_seq": 4, "request": {"a": [1]}},
    )
    typed = bodies.command(stored(command, 1))
    assert isinstance(typed, CommandBody) and typed.accepted_action == "verify"
    assert typed.journal_seq == 4 and typed.request == {"a": [1]}
    anchor = NewRecord(
        kind=RecordKind.ANCHOR, received_at=T, body={"head_seq": 9, "head_hash": "ab", "at": "x"}
    )
    assert bodies.anchor(stored(anchor, 10)) == AnchorBody(head_seq=9, head_hash="ab", at="x")
    assert bodies.message(stored(anchor, 10)) is None


def test_the_view_is_built_once_and_not_part_of_the_record() -> None:
    record = stored(message("1", sia("BA", "alarm", zone=1)), 1)
    first = bodies.view(record)
    assert bodies.view(record) is first
    assert record == stored(message("1", sia("BA", "alarm", zone=1)), 1)
    changed = replace(record, body={**record.body, "events": []})
    assert changed.typed is None and bodies.message(changed) == msgspec.structs.replace(
        first, events=()
    )


async def test_reading_views_changes_nothing_stored(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    async with await Journal.open(path, fsync=False) as journal:
        await journal.append(message("1", sia("BA", "alarm", zone=1)))
        await journal.append(derived("1", "card.red", "status"))
        before = [(r.journal_seq, r.hash, r.body) for r in await journal.read_after(0, limit=10)]
        for record in await journal.read_after(0, limit=10):
            bodies.view(record)
        after = [(r.journal_seq, r.hash, r.body) for r in await journal.read_after(0, limit=10)]
    assert before == after
    assert verify_chain(path).ok


def _odd_bodies() -> list[NewRecord]:
    advice = Derived(
        type=DerivedType.DISPATCH_ADVICE,
        account="1",
        at=T,
        key="dispatch.advice|1|3|0",
        description="advice",
        refs=(3,),
        fields={"alarm_seq": 3, "index": 0, "dispatch": {"police": True}},
    )
    untyped = NewRecord(kind=RecordKind.DERIVED, received_at=T, body={"key": "k", "zone": 2})
    odd_advice = msgspec.structs.replace(
        new_record(advice), body={**new_record(advice).body, "index": "x"}
    )
    return [
        message("1234", sia("BA", "alarm", zone=3, area=1), cid("602", 1, "test")),
        NewRecord(
            kind=RecordKind.MESSAGE,
            received_at=T,
            account="1",
            body={"token": 5, "sequence": 42, "events": [{"code": "BA", "zone": [1]}, {}]},
        ),
        new_record(advice),
        odd_advice,
        untyped,
        derived("1", "card.red", "status"),
        derived("1", "some.future_type", "status"),
        NewRecord(kind=RecordKind.COMMAND, received_at=T, body={"action": "x", "on": "yes"}),
        NewRecord(kind=RecordKind.ANCHOR, received_at=T, body={"head_seq": "9"}),
    ]


def test_a_record_read_from_a_row_has_the_same_body_and_view() -> None:
    for seq, new in enumerate(_odd_bodies(), start=1):
        row = (
            seq,
            format_received_at(new.received_at),
            new.kind.value,
            new.account,
            new.peer,
            new.transport,
            new.reply,
            new.priority,
            canonical_body(new.body),
            new.raw,
            "0" * 64,
            "0" * 64,
        )
        from_row, same = record_from_stored(row), stored(new, seq)
        assert bodies.view(from_row) == bodies.view(same), new.body
        assert from_row.body == msgspec.json.decode(canonical_body(new.body))
        assert from_row == same
        assert record_from_stored(row) == from_row  # the body decoded on one side only
        assert not hasattr(from_row, "bod")
