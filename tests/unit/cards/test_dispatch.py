"""Dispatch advice: the procedure, warning persons in sequence, red card, hold-up link, test
mode; the card in the account state; the advice on published alarm events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.builders import validator
from tests.unit.rules.records import message, stored

from alarmrx.config.card_model import CardSettings, ContactSettings, ProcedureSettings
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.mqtt.payloads import event_messages, state_payload
from alarmrx.protocols.priority import Priority
from alarmrx.rules.dispatch import advice, advisor
from alarmrx.rules.state import StateBook

T = datetime(2025, 3, 1, 12, tzinfo=UTC)
HASH = "scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA=="


def contact(id_code: str, role: str = "warning", sequence: int | None = None) -> ContactSettings:
    return ContactSettings(
        id_code=id_code,
        name=f"P{id_code}",
        role=role,  # type: ignore[arg-type]
        sequence=sequence,
        phone=f"+31{id_code}",
        pin_hash=HASH,
    )


CARD = CardSettings(
    instructions="Key at the neighbour's",
    contacts=(
        contact("A", "authorised"),
        contact("W3", sequence=3),
        contact("W1", sequence=1),
        contact("W2", sequence=2),
    ),
    procedures=(ProcedureSettings(alarm="fire", contacts=("W2",), note="Call the owner first"),),
)


def derived(kind: str, at: datetime, **fields: object) -> NewRecord:
    return NewRecord(
        kind=RecordKind.DERIVED,
        received_at=at,
        account="1",
        priority=5,
        body={"type": kind, "key": f"{kind}|{at}", "refs": [], **fields},
    )


def book_with(*records: NewRecord) -> StateBook:
    book = StateBook()
    for seq, record in enumerate(records, start=1):
        book.apply(stored(record, seq))
    return book


def red(since: datetime) -> NewRecord:
    return derived(
        "card.red",
        since,
        card="red",
        since=since.isoformat(),
        until=(since + timedelta(days=90)).isoformat(),
    )


def test_warning_persons_are_called_in_sequence_and_authorised_never() -> None:
    out = advice(CARD, None, Priority.INTRUSION, T, test=False)
    assert [c["id_code"] for c in out["call"]] == ["W1", "W2", "W3"]
    assert out["call"][0] == {"id_code": "W1", "name": "PW1", "phone": "+31W1", "sequence": 1}
    assert (out["police"], out["services"], out["reason"], out["card"]) == (
        True,
        ["police"],
        "procedure",
        "none",
    )
    assert out["notes"] == ["Key at the neighbour's"]


def test_a_procedure_names_whom_to_call_and_which_services() -> None:
    out = advice(CARD, None, Priority.FIRE, T, test=False)
    assert [c["id_code"] for c in out["call"]] == ["W2"]
    assert (out["services"], out["police"]) == (["fire_brigade"], False)
    assert out["notes"] == ["Key at the neighbour's", "Call the owner first"]


def test_red_card_means_no_police_while_it_holds() -> None:
    state = book_with(red(T)).accounts["1"]
    during = advice(CARD, state, Priority.INTRUSION, T + timedelta(days=89), test=False)
    assert (during["police"], during["reason"], during["card"]) == (False, "red card", "red")
    assert during["services"] == [] and len(during["call"]) == 3
    before = advice(CARD, state, Priority.INTRUSION, T - timedelta(seconds=1), test=False)
    after = advice(CARD, state, Priority.INTRUSION, T + timedelta(days=90), test=False)
    assert before["police"] and after["police"] and after["card"] == "none"


def test_a_cleared_card_still_advises_events_published_late() -> None:
    cleared = derived("card.cleared", T + timedelta(days=90), card="none", previous="red")
    state = book_with(red(T), cleared).accounts["1"]
    assert state.card is None
    late = advice(CARD, state, Priority.INTRUSION, T + timedelta(days=1), test=False)
    assert late["card"] == "red"


def test_holdup_without_a_registered_link_is_not_sent_to_the_police() -> None:
    out = advice(CARD, None, Priority.HOLDUP, T, test=False)
    assert (out["police"], out["reason"]) == (False, "no registered hold-up link")
    linked = CardSettings(holdup_link=True)
    assert advice(linked, None, Priority.HOLDUP, T, test=False)["police"] is True
    assert advice(None, None, Priority.HOLDUP, T, test=False)["police"] is False


def test_test_mode_dispatches_nothing() -> None:
    out = advice(CARD, None, Priority.INTRUSION, T, test=True)
    assert (out["call"], out["services"], out["police"], out["reason"]) == (
        [],
        [],
        False,
        "test mode",
    )


def test_temporary_changes_are_notes_while_they_last() -> None:
    note = derived(
        "card.temporary", T, note="Painters until 18:00", until=(T + timedelta(hours=6)).isoformat()
    )
    state = book_with(note).accounts["1"]
    notes = advice(CARD, state, Priority.INTRUSION, T + timedelta(hours=1), test=False)["notes"]
    assert "Painters until 18:00" in notes
    later = advice(CARD, state, Priority.INTRUSION, T + timedelta(hours=7), test=False)
    assert "Painters until 18:00" not in later["notes"]


def test_published_alarms_carry_the_advice_and_the_state_the_card() -> None:
    book = book_with(red(T))
    alarm = stored(
        message(
            "1",
            {
                "code": "BA",
                "category": "alarm",
                "zone": 3,
                "area": None,
                "description": "Burglary",
                "user": None,
                "text": None,
                "qualifier": None,
            },
            when=T + timedelta(days=1),
        ),
        2,
    )
    restore = stored(
        message(
            "1",
            {
                "code": "BR",
                "category": "restore",
                "zone": 3,
                "area": None,
                "description": "",
                "user": None,
                "text": None,
                "qualifier": None,
            },
        ),
        3,
    )
    advise = advisor(CARD, book.accounts["1"])
    (published,) = event_messages(alarm, "rx1", {}, advise)
    validator("event").validate(published.payload)
    assert published.payload["dispatch"]["reason"] == "red card"
    (other,) = event_messages(restore, "rx1", {}, advise)
    assert other.payload["dispatch"] is None
    state = state_payload(book.accounts["1"], "rx1", None, {})
    validator("state").validate(state)
    assert state["card"]["level"] == "red" and state["temporary_changes"] == []
