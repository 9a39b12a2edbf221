"""An event's ``test`` field, learnt from the rules' ``test.started`` and ``test.ended``
records (the receiver writes no flag). That an alarm in test calls nobody is the rules'
conclusion (``dispatch.advice``, tests/unit/cards/test_dispatch.py)."""

from __future__ import annotations

from tests.unit.rules.records import Stream, at, burglary, command, message

from alarmrx.journal.records import Record
from alarmrx.mqtt.payloads import event_messages
from alarmrx.rules.derived import new_record
from alarmrx.rules.state import StateBook, in_test_at
from alarmrx.rules.testmode import TestModeCore

RECEIVER_ID = "rx1"


class Journal:
    """Records numbered in order, the test-mode core writing its conclusions after the
    command that caused them, and the account-state fold over all of them."""

    def __init__(self) -> None:
        self.stream, self.core, self.book = Stream(), TestModeCore(), StateBook()

    def add(self, new: object) -> Record:
        record = self.stream.add(new)  # type: ignore[arg-type]
        for derived in self.core.handle(record):
            self.stream.add(new_record(derived))
        return record

    def expire(self, seconds: float) -> None:
        for derived in self.core.on_timer(at(seconds)):
            self.stream.add(new_record(derived))

    def fold(self) -> None:
        """What the publisher does with a window: fold every record, then build events."""
        for record in self.stream.records:
            self.book.apply(record)

    def payload(self, record: Record) -> dict[str, object]:
        state = self.book.accounts.get(record.account)
        (out,) = event_messages(record, RECEIVER_ID, {}, state)
        return out.payload


def on(seconds: float, duration_s: float) -> object:
    return command("1", at(seconds), action="test_mode", on=True, duration_s=duration_s)


def off(seconds: float) -> object:
    return command("1", at(seconds), action="test_mode", on=False, duration_s=None)


def alarm(seconds: float) -> object:
    return message("1", burglary(5), when=at(seconds))


def test_an_alarm_in_test_is_flagged() -> None:
    journal = Journal()
    before = journal.add(alarm(-1))
    journal.add(on(0, 600))
    during = journal.add(alarm(10))
    journal.fold()
    assert journal.payload(before)["test"] is False
    assert journal.payload(during)["test"] is True
    assert journal.payload(during)["dispatch"] is None  # the advice is its own event
    assert journal.book.accounts["1"].test is True


def test_off_and_expiry_end_it_at_their_time_whatever_the_window() -> None:
    journal = Journal()
    journal.add(on(0, 600))
    first = journal.add(alarm(50))
    journal.add(off(100))
    after_off = journal.add(alarm(200))
    journal.add(on(300, 60))
    second = journal.add(alarm(330))
    journal.expire(360)
    after_expiry = journal.add(alarm(400))
    journal.fold()  # one window: the state is the one after all of them
    assert [journal.payload(r)["test"] for r in (first, after_off, second, after_expiry)] == [
        True,
        False,
        True,
        False,
    ]
    assert journal.book.accounts["1"].test is False


def test_past_the_end_before_the_rules_wrote_it() -> None:
    """A message received after ``until`` is not in test even if ``test.ended`` is late."""
    journal = Journal()
    journal.add(on(0, 60))
    late = journal.add(alarm(61))
    journal.fold()
    assert journal.book.accounts["1"].test is True  # the session's end is not journaled yet
    assert journal.payload(late)["test"] is False
    assert in_test_at(journal.book.accounts["1"], at(59)) is True


def test_rules_records_keep_their_own_mark() -> None:
    journal = Journal()
    journal.add(on(0, 600))
    journal.fold()
    started = journal.stream.records[-1]
    assert journal.payload(started)["test"] is True  # test.started is marked by its rule
