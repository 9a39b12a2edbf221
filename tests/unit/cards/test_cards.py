"""The false-alarm card core with an injected clock: cancels, marking, yellow and red cards
at the edges of their three months, expiry, and a rebuild from the journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.unit.rules.records import Stream, burglary, command, message

from alarmrx.config.card_model import CardSettings
from alarmrx.journal.records import Record
from alarmrx.rules.cards import (
    Cancel,
    CardCore,
    Level,
    MarkFalse,
    add_months,
    parse_request,
)
from alarmrx.rules.commands import CommandRefused
from alarmrx.rules.derived import DerivedType, new_record

JAN = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
MICRO = timedelta(microseconds=1)
CARDS = {"1": CardSettings(cancel_window_s=300.0)}


class Site:
    """One account's records through a core, by the moment they happen."""

    def __init__(self) -> None:
        self.core = CardCore(CARDS)
        self.stream = Stream()
        self.concluded: list[DerivedType] = []

    def feed(self, new: object) -> tuple[Record, list[DerivedType]]:
        record = self.stream.add(new)  # type: ignore[arg-type]
        derived = self.core.handle(record)
        for conclusion in derived:  # the runner appends them; they come back as records
            self.core.handle(self.stream.add(new_record(conclusion)))
        self.concluded += [d.type for d in derived]
        return record, [d.type for d in derived]

    def alarm(self, when: datetime) -> int:
        return self.feed(message("1", burglary(3), when=when))[0].journal_seq

    def false(self, seq: int, when: datetime, *, police: bool = True) -> list[DerivedType]:
        return self.feed(
            command("1", when, action="mark_false", journal_seq=seq, police_alerted=police, by="op")
        )[1]

    def cancel(self, seq: int, when: datetime) -> list[DerivedType]:
        return self.feed(command("1", when, action="cancel", journal_seq=seq, id_code="1001"))[1]

    def counted(self, when: datetime) -> list[DerivedType]:
        """An alarm at ``when``, marked false (police alerted) a minute later."""
        return self.false(self.alarm(when), when + timedelta(minutes=1))


YELLOW = [DerivedType.ALARM_FALSE, DerivedType.CARD_YELLOW]
RED = [DerivedType.ALARM_FALSE, DerivedType.CARD_RED]
COUNTED = [DerivedType.ALARM_FALSE]


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(datetime(2025, 11, 30, 8, tzinfo=UTC), 3) == datetime(
        2026, 2, 28, 8, tzinfo=UTC
    )
    assert add_months(datetime(2023, 11, 30, tzinfo=UTC), 3) == datetime(2024, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2025, 10, 15, tzinfo=UTC), 3) == datetime(2026, 1, 15, tzinfo=UTC)


def test_two_false_alarms_exactly_three_months_apart_give_a_yellow_card() -> None:
    site = Site()
    assert site.counted(JAN) == COUNTED
    assert site.counted(add_months(JAN, 3)) == YELLOW
    standing = site.core.standing("1")
    marked = add_months(JAN, 3) + timedelta(minutes=1)
    assert (standing.level, standing.since, standing.until) == (
        Level.YELLOW,
        marked,
        add_months(marked, 3),
    )


def test_two_false_alarms_three_months_and_a_microsecond_apart_do_not() -> None:
    site = Site()
    site.counted(JAN)
    assert site.counted(add_months(JAN, 3) + MICRO) == COUNTED
    assert site.core.standing("1").level is Level.NONE
    assert site.counted(add_months(JAN, 4)) == YELLOW  # pairs with the second one


def test_another_within_the_yellow_card_gives_red_and_red_expires_after_three_months() -> None:
    site = Site()
    site.counted(JAN)
    site.counted(JAN + timedelta(days=20))
    yellow = site.core.standing("1")
    assert site.counted(yellow.until - timedelta(minutes=2)) == RED
    red = site.core.standing("1")
    assert red.level is Level.RED and red.until == add_months(red.since, 3)  # type: ignore[arg-type]
    assert site.core.next_deadline() == red.until
    assert site.core.on_timer(red.until - MICRO) == []  # type: ignore[operator]
    cleared = site.core.on_timer(red.until)  # type: ignore[arg-type]
    assert [(d.type, d.fields["previous"], d.fields["ends"]) for d in cleared] == [
        (DerivedType.CARD_CLEARED, "red", red.key)
    ]
    assert site.core.standing("1").level is Level.NONE and site.core.next_deadline() is None


def test_a_yellow_card_without_another_false_alarm_expires() -> None:
    site = Site()
    site.counted(JAN)
    site.counted(JAN + timedelta(days=1))
    until = site.core.standing("1").until
    assert until is not None
    assert [d.type for d in site.core.on_timer(until)] == [DerivedType.CARD_CLEARED]
    assert site.counted(until + timedelta(days=1)) == COUNTED  # the count starts afresh
    assert site.core.standing("1").level is Level.NONE


def test_a_false_alarm_marked_after_the_card_expired_clears_it_first() -> None:
    site = Site()
    site.counted(JAN)
    site.counted(JAN + timedelta(days=1))
    until = site.core.standing("1").until
    assert until is not None
    assert site.counted(until + timedelta(days=2)) == [
        DerivedType.ALARM_FALSE,
        DerivedType.CARD_CLEARED,
    ]


def test_under_red_more_false_alarms_change_nothing() -> None:
    site = Site()
    for day in (0, 1, 2):
        site.counted(JAN + timedelta(days=day))
    assert site.core.standing("1").level is Level.RED
    assert site.counted(JAN + timedelta(days=3)) == COUNTED


def test_a_false_alarm_from_before_the_yellow_card_does_not_make_it_red() -> None:
    site = Site()
    early = site.alarm(JAN - timedelta(days=5))
    site.counted(JAN)
    site.counted(JAN + timedelta(days=1))
    assert site.core.standing("1").level is Level.YELLOW
    assert site.false(early, JAN + timedelta(days=2)) == COUNTED
    assert site.core.standing("1").level is Level.YELLOW


def test_cancelled_in_time_or_without_police_does_not_count() -> None:
    site = Site()
    cancelled = site.alarm(JAN)
    assert site.cancel(cancelled, JAN + timedelta(seconds=300)) == [DerivedType.ALARM_CANCELLED]
    site.false(cancelled, JAN + timedelta(minutes=30))
    site.false(site.alarm(JAN + timedelta(days=1)), JAN + timedelta(days=1), police=False)
    site.counted(JAN + timedelta(days=2))
    assert site.core.standing("1").level is Level.NONE
    reasons = [
        r.body.get("not_counted")
        for r in site.stream.records
        if r.body.get("type") == "alarm.false"
    ]
    assert reasons == ["cancelled in time", "police not alerted", None]


def test_cancel_window_edges_and_refusals() -> None:
    site = Site()
    seq = site.alarm(JAN)
    cancel = Cancel(account="1", journal_seq=seq, id_code="1001")
    window = timedelta(seconds=300)
    assert site.core.refusal(cancel, JAN + window) is None
    assert "too late" in str(site.core.refusal(cancel, JAN + window + MICRO))
    assert "holds no alarm" in str(
        site.core.refusal(Cancel(account="1", journal_seq=99, id_code="1001"), JAN)
    )
    site.cancel(seq, JAN + timedelta(seconds=10))
    assert "already cancelled" in str(site.core.refusal(cancel, JAN + timedelta(seconds=20)))
    mark = MarkFalse(account="1", journal_seq=seq, police_alerted=True, by="op")
    assert site.core.refusal(mark, JAN) is None
    site.false(seq, JAN + timedelta(minutes=5))
    assert "already marked false" in str(site.core.refusal(mark, JAN))


def test_a_rebuild_takes_the_cards_from_the_journal() -> None:
    site = Site()
    for day in (0, 1, 2):
        site.counted(JAN + timedelta(days=day))
    red = site.core.standing("1")
    fresh = CardCore(CARDS)
    for record in site.stream.records:
        fresh.handle(record)
    again = fresh.standing("1")
    assert (again.level, again.since, again.until, again.key) == (
        red.level,
        red.since,
        red.until,
        red.key,
    )
    # a card cleared by a timer of the earlier run is cleared on replay too
    assert red.until is not None
    for conclusion in site.core.on_timer(red.until):
        site.stream.add(new_record(conclusion))
    replayed = CardCore(CARDS)
    for record in site.stream.records:
        replayed.handle(record)
    assert replayed.standing("1").level is Level.NONE


def test_temporary_change_is_a_derived_event_with_its_end() -> None:
    site = Site()
    _, derived = site.feed(
        command("1", JAN, action="temporary_change", note="painters", duration_s=3600.0)
    )
    assert derived == [DerivedType.CARD_TEMPORARY]
    body = site.stream.records[-1].body
    assert (body["note"], body["until"]) == (
        "painters",
        (JAN + timedelta(hours=1)).isoformat(timespec="microseconds"),
    )


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (
            {"action": "cancel", "account": "1", "journal_seq": "3", "id_code": "x"},
            "journal_seq must be",
        ),
        ({"action": "cancel", "account": "1", "journal_seq": 3}, "id_code must be text"),
        ({"action": "mark_false", "account": "1", "journal_seq": 3}, "police_alerted must be"),
        (
            {"action": "temporary_change", "account": "1", "note": "x", "duration_s": 604800},
            "below 604800",
        ),
        ({"action": "temporary_change", "account": "1", "duration_s": 60}, "note must be text"),
        (
            {"action": "change_pin", "account": "1", "id_code": "1", "new_pin": "0000"},
            "factory PIN",
        ),
        (
            {"action": "change_pin", "account": "1", "id_code": "1", "new_pin": "12a4"},
            "4 to 12 digits",
        ),
        (
            {"action": "dance", "account": "1"},
            "cancel, mark_false, temporary_change, close_alarm, change_pin",
        ),
    ],
)
def test_malformed_card_commands_are_refused(request_: dict[str, object], error: str) -> None:
    with pytest.raises(CommandRefused, match=error):
        parse_request(request_)
