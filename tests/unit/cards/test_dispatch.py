"""Dispatch advice: the procedure, warning persons in sequence, red card, hold-up link, test
mode; the rule that concludes it for every alarm (a pure core, explicit times), journaled
once whatever is replayed; and the advice as the publisher sends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.builders import validator
from tests.unit.rules.records import command, message, stored

from alarmrx.config.card_model import CardSettings, ContactSettings, ProcedureSettings
from alarmrx.journal.records import NewRecord, Record, RecordKind
from alarmrx.mqtt.payloads import event_messages, state_payload
from alarmrx.protocols.priority import Priority
from alarmrx.rules.derived import Derived, DerivedType, new_record
from alarmrx.rules.dispatch import advice
from alarmrx.rules.engine import RuleEngine
from alarmrx.rules.plans import RulePlans
from alarmrx.rules.standing import Standing
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


def standing_with(*records: NewRecord) -> Standing:
    return book_with(*records).accounts["1"].standing


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
    state = standing_with(red(T))
    during = advice(CARD, state, Priority.INTRUSION, T + timedelta(days=89), test=False)
    assert (during["police"], during["reason"], during["card"]) == (False, "red card", "red")
    assert during["services"] == [] and len(during["call"]) == 3
    before = advice(CARD, state, Priority.INTRUSION, T - timedelta(seconds=1), test=False)
    after = advice(CARD, state, Priority.INTRUSION, T + timedelta(days=90), test=False)
    assert before["police"] and after["police"] and after["card"] == "none"


def test_a_cleared_card_still_advises_events_published_late() -> None:
    cleared = derived("card.cleared", T + timedelta(days=90), card="none", previous="red")
    state = standing_with(red(T), cleared)
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
    state = standing_with(note)
    notes = advice(CARD, state, Priority.INTRUSION, T + timedelta(hours=1), test=False)["notes"]
    assert "Painters until 18:00" in notes
    later = advice(CARD, state, Priority.INTRUSION, T + timedelta(hours=7), test=False)
    assert "Painters until 18:00" not in later["notes"]


ALARM = {
    "code": "BA",
    "category": "alarm",
    "zone": 3,
    "area": 2,
    "description": "Burglary",
    "user": None,
    "text": None,
    "qualifier": None,
}
HOLDUP = {**ALARM, "code": "HA", "zone": 4, "description": "Hold-up"}
RESTORE = {**ALARM, "code": "BR", "category": "restore", "description": ""}


class Centre:
    """The rule engine over a journal kept in a list: what it concludes is appended and
    read back, as the runner does."""

    def __init__(self, cards: dict[str, CardSettings] | None = None) -> None:
        cards = {"1": CARD} if cards is None else cards
        self.plans = RulePlans(accounts=frozenset(cards), cards=cards)
        self.engine = RuleEngine(self.plans)
        self.records: list[Record] = []

    def append(self, new: NewRecord) -> Record:
        record = stored(new, len(self.records) + 1)
        self.records.append(record)
        return record

    def feed(self, new: NewRecord) -> list[Derived]:
        """Fold ``new``; append what it concluded and what follows from that, and read it
        all back (``RulesRunner._step``), until nothing more is concluded."""
        pending = self.engine.fold(self.append(new))
        out: list[Derived] = []
        while pending:
            out += pending
            while pending:  # ``RulesRunner._flush``
                for derived in (self.engine.flagged(d) for d in pending):
                    record = self.append(new_record(derived))
                    self.engine.recorded(derived, record.journal_seq)
                pending = self.engine.follow_ups()
                out += pending
            unread = self.records[self.engine.position :]
            pending = [d for r in unread for d in self.engine.fold(r)]
        return out

    def advice(self) -> list[Record]:
        return [r for r in self.records if r.body.get("type") == DerivedType.DISPATCH_ADVICE]


def test_every_alarm_event_gets_one_advice_naming_it() -> None:
    centre = Centre()
    centre.feed(message("1", ALARM, RESTORE, HOLDUP, when=T))
    first, second = centre.advice()
    assert [(r.body["alarm_seq"], r.body["index"]) for r in (first, second)] == [(1, 0), (1, 2)]
    assert first.body["refs"] == [1] and first.received_at == T
    assert (first.body["zone"], first.body["area"]) == (3, 2)
    assert first.body["key"] == "dispatch.advice|1|1|0"
    assert first.priority == Priority.INTRUSION and second.priority == Priority.HOLDUP
    assert first.body["dispatch"] == advice(CARD, None, Priority.INTRUSION, T, test=False)
    assert second.body["dispatch"]["reason"] == "no registered hold-up link"
    assert centre.feed(message("1", RESTORE, when=T)) == []
    # an account that is not configured (accepted by ``unknown_accounts``) is advised nothing
    assert centre.feed(message("99", ALARM, when=T)) == []


def test_the_advice_follows_the_red_card_the_rules_gave() -> None:
    centre = Centre()
    for minute in (0, 10):
        at = T + timedelta(minutes=minute)
        centre.feed(message("1", ALARM, when=at))
        seq = centre.advice()[-1].body["alarm_seq"]
        mark = {"journal_seq": seq, "police_alerted": True, "by": "op"}
        centre.feed(command("1", at + timedelta(minutes=1), action="mark_false", **mark))
    assert centre.engine.cards.standing("1").level == "yellow"
    centre.feed(message("1", ALARM, when=T + timedelta(minutes=20)))
    mark = {"journal_seq": centre.records[-2].journal_seq, "police_alerted": True, "by": "op"}
    concluded = centre.feed(command("1", T + timedelta(minutes=21), action="mark_false", **mark))
    assert DerivedType.CARD_RED in [d.type for d in concluded]
    # the card is given at the command's receipt: an alarm right after it is advised under it
    centre.feed(message("1", ALARM, when=T + timedelta(minutes=21, seconds=1)))
    late = centre.advice()[-1].body["dispatch"]
    assert (late["card"], late["police"], late["reason"]) == ("red", False, "red card")
    cards = [r.body["dispatch"]["card"] for r in centre.advice()]
    assert cards == ["none", "none", "yellow", "red"]


def test_an_account_in_test_is_advised_to_dispatch_nothing() -> None:
    centre = Centre()
    centre.feed(command("1", T, action="test_mode", on=True, duration_s=600))
    centre.feed(message("1", ALARM, when=T + timedelta(minutes=5)))
    centre.feed(message("1", ALARM, when=T + timedelta(minutes=10)))  # the session is over
    during, after = centre.advice()
    assert (during.body["dispatch"]["reason"], during.body["test"]) == ("test mode", True)
    assert (after.body["dispatch"]["reason"], after.body["test"]) == ("procedure", False)


def test_a_verified_alarm_is_advised_once_journaled() -> None:
    centre = Centre()
    centre.feed(command("1", T, action="verify", journal_seq=1, by="operator"))
    assert centre.advice() == []  # record 1 holds no alarm: nothing verified, nothing advised
    centre.feed(message("1", ALARM, when=T))
    verify = {"journal_seq": 2, "by": "operator"}
    concluded = centre.feed(command("1", T, action="verify", **verify))
    verified = [d for d in concluded if d.type is DerivedType.ALARM_VERIFIED]
    assert len(verified) == 1
    advised = centre.advice()[-1]
    verified_record = next(r for r in centre.records if r.body.get("type") == "alarm.verified")
    assert advised.body["refs"] == [verified_record.journal_seq]
    assert advised.body["alarm_seq"] == verified_record.journal_seq


def test_a_replay_never_advises_twice() -> None:
    centre = Centre()
    centre.feed(message("1", ALARM, when=T))
    centre.feed(message("1", HOLDUP, when=T + timedelta(seconds=1)))
    assert len(centre.advice()) == 2
    # a restart whose cursor was not saved: every record after it is folded again, and what
    # it concludes is held back until the journal shows it already holds it
    fresh = RuleEngine(centre.plans)
    for record in centre.records:
        for derived in fresh.fold(record):
            fresh.hold(derived)
    assert fresh.release() == []
    # a journal where the advice of the second alarm was lost in a crash: made once, again
    lost = [r for r in centre.records if r.journal_seq != centre.advice()[-1].journal_seq]
    again = RuleEngine(centre.plans)
    for record in lost:
        for derived in again.fold(record):
            again.hold(derived)
    (made,) = again.release()
    assert made.key == centre.advice()[-1].body["key"]


def test_the_publisher_sends_the_advice_as_journaled() -> None:
    centre = Centre()
    centre.feed(red(T))
    centre.feed(message("1", ALARM, when=T + timedelta(days=1)))
    alarm = centre.records[1]
    (published,) = event_messages(alarm, "rx1", {"3": "Hall"})
    validator("event").validate(published.payload)
    assert (published.payload["dispatch"], published.payload["alarm_id"]) == (None, None)
    (advised,) = centre.advice()
    (sent,) = event_messages(advised, "rx1", {"3": "Hall"})
    validator("event").validate(sent.payload)
    assert sent.payload["type"] == "dispatch.advice"
    assert sent.payload["alarm_id"] == published.payload["id"] == "rx1:2:0"
    assert sent.payload["dispatch"] == advised.body["dispatch"]
    assert sent.payload["dispatch"]["reason"] == "red card"
    assert (sent.payload["priority"], sent.payload["zone_name"]) == ("intrusion", "Hall")
    assert sent.payload["refs"] == [alarm.journal_seq]
    book = book_with(red(T))
    state = state_payload(book.accounts["1"], "rx1", None, {})
    validator("state").validate(state)
    assert state["card"]["level"] == "red" and state["temporary_changes"] == []
