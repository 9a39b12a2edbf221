"""Open alarms: every way one closes, and the bounds of the state whatever a panel sends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import msgspec
from tests.unit.builders import T0, cid, derived, message, sia, stored, validator

from alarmrx.journal.records import NewRecord
from alarmrx.mqtt.payloads import SHOWN_OPEN_ALARMS, state_payload
from alarmrx.rules.state import (
    MAX_AREAS,
    MAX_OPEN_ALARMS,
    MAX_TEXT,
    Change,
    StateBook,
)


def _book(*records: NewRecord) -> StateBook:
    book = StateBook()
    for seq, record in enumerate(records, start=1):
        book.apply(stored(record, seq))
    return book


def _closing(kind: str, alarm_seq: int, **extra: Any) -> NewRecord:
    record = derived("1", kind, "status")
    return msgspec.structs.replace(record, body={**record.body, "alarm_seq": alarm_seq, **extra})


def _open(book: StateBook) -> list[tuple[str, object]]:
    return [(a.code, a.zone) for a in book.accounts["1"].open_alarms]


def test_the_derived_cancel_closes_the_alarm_it_names_and_changes_the_state() -> None:
    book = _book(
        message("1", sia("BA", "alarm", zone=5)),
        message("1", sia("PA", "alarm", zone=9)),
    )
    change = book.apply(stored(_closing("alarm.cancelled", 1), 3))
    assert change is Change.CHANGED  # so the retained state is published again
    assert _open(book) == [("PA", 9)]


def test_an_operators_close_closes_every_alarm_of_the_record() -> None:
    book = _book(message("1", sia("HA", "alarm", zone=1), sia("FA", "alarm", zone=2)))
    book.apply(stored(_closing("alarm.closed", 1), 2))
    assert _open(book) == []


def test_expired_closes_only_the_event_it_names() -> None:
    book = _book(message("1", sia("HA", "alarm", zone=1), sia("FA", "alarm", zone=2)))
    book.apply(stored(_closing("alarm.expired", 1, index=1), 2))
    assert _open(book) == [("HA", 1)]


def test_a_disarm_closes_the_intrusion_alarms_of_its_area_only() -> None:
    book = _book(
        message("1", sia("BA", "alarm", zone=5, area=1), sia("BA", "alarm", zone=6, area=2)),
        message("1", sia("FA", "alarm", zone=7, area=1), cid("122", 1, "alarm", zone=8, area=1)),
        message("1", sia("OP", "open", area=1, user=3)),
    )
    assert _open(book) == [("BA", 6), ("FA", 7), ("122", 8)]
    book.apply(stored(message("1", sia("OP", "open", user=3)), 4))  # no area: the panel
    assert _open(book) == [("FA", 7), ("122", 8)]


def test_kind_is_the_priority_class() -> None:
    book = _book(
        message(
            "1",
            cid("130", 1, "alarm", zone=1),
            sia("HA", "alarm", zone=2),
            sia("FA", "alarm", zone=3),
            sia("YX", "alarm", zone=4),
        )
    )
    kinds = [a.kind for a in book.accounts["1"].open_alarms]
    assert kinds == ["intrusion", "holdup", "fire", "trouble"]


def test_the_oldest_open_alarm_is_pushed_out_past_the_limit() -> None:
    records = [message("1", sia("HA", "alarm", zone=z)) for z in range(MAX_OPEN_ALARMS + 5)]
    book = _book(*records)
    zones = [a.zone for a in book.accounts["1"].open_alarms]
    assert zones == list(range(5, MAX_OPEN_ALARMS + 5))


def test_the_retained_state_lists_the_newest_and_counts_them_all() -> None:
    records = [message("1", sia("HA" if z % 2 else "BA", "alarm", zone=z)) for z in range(20)]
    book = _book(*records)
    state = state_payload(book.accounts["1"], "rx1", None, {})
    assert [a["zone"] for a in state["open_alarms"]] == list(range(20 - SHOWN_OPEN_ALARMS, 20))
    assert state["open_alarms_total"] == 20
    assert state["open_alarm_counts"] == {
        "holdup": 10,
        "fire": 0,
        "intrusion": 10,
        "trouble": 0,
        "other": 0,
    }
    assert not list(validator("state").iter_errors(state))


def _hostile(n: int) -> NewRecord:
    """Alarms and openings with long text everywhere a panel may put text."""
    text = "x" * 3000
    events = [
        sia("BA", "alarm", zone=None) | {"zone": f"{text}{n}", "area": f"{text}{n}"},
        sia("OP", "open") | {"area": f"{n}{text}", "user": text},
    ]
    return message("1", *events, received_at=T0 + timedelta(seconds=n))


def test_the_state_stays_small_whatever_the_panel_sends() -> None:
    book = _book(*(_hostile(n) for n in range(200)))
    account = book.accounts["1"]
    assert len(account.areas) == MAX_AREAS
    assert all(len(str(a.zone)) <= MAX_TEXT for a in account.open_alarms)
    zone_names = {str(a.zone): "n" * 64 for a in account.open_alarms}
    size = len(json.dumps(state_payload(account, "rx1", "name" * 16, zone_names)))
    assert size < 5 * 1024  # docs/mqtt.md: at most about 5 KB
