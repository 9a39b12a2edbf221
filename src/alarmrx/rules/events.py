"""Reading the panel events of a journaled MESSAGE body, as the rules see them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from alarmrx.journal.records import Record, RecordKind
from alarmrx.protocols.dc09.message import Category, Event
from alarmrx.protocols.priority import Priority, event_priority

StoredEvent = Mapping[str, Any]

# Periodic test reports (protocols/codes/contact_id_codes.csv, sia_dcs_codes.csv): Contact ID
# 602 "periodic test report" and 608 "periodic test, system trouble present"; SIA RP
# "automatic test". Manual tests (601, RX) are not periodic and do not count.
PERIODIC_TEST_CID = frozenset({"602", "608"})
PERIODIC_TEST_SIA = frozenset({"RP"})


def panel_events(record: Record) -> list[tuple[int, StoredEvent]]:
    """(index in the frame, event) for every event of a MESSAGE record."""
    if record.kind is not RecordKind.MESSAGE:
        return []
    events = record.body.get("events") or ()
    # A decoded body holds dicts: ``type(...) is dict`` spares the ABC check of
    # ``isinstance(..., Mapping)`` (about 0.3 µs an event, four readers a record).
    return [
        (index, event)
        for index, event in enumerate(events)
        if type(event) is dict or isinstance(event, Mapping)
    ]


def is_burglary_alarm(event: StoredEvent) -> bool:
    """An alarm of the intrusion class (the ones published with ``verified: false``)."""
    if event.get("category") != Category.ALARM:
        return False
    return _intrusion(str(event.get("code") or ""), event.get("qualifier") is not None)


@lru_cache(maxsize=4096)
def _intrusion(code: str, contact_id: bool) -> bool:
    """An alarm event of this code is of the intrusion class (by ``event_priority``, which
    reads only the code and whether a Contact ID qualifier is present)."""
    qualifier = 1 if contact_id else None
    event = Event(code=code, category=Category.ALARM, description="", qualifier=qualifier)
    return event_priority(event) is Priority.INTRUSION


def alarm_priority(event: StoredEvent) -> Priority:
    """The priority class of an alarm event (``event_priority`` reads only the code's family
    and whether a Contact ID qualifier is present)."""
    contact_id = event.get("qualifier") is not None
    code = str(event.get("code") or "")[: 2 if contact_id else 1]
    return _alarm_priority(code, contact_id)


@lru_cache(maxsize=256)
def _alarm_priority(family: str, contact_id: bool) -> Priority:
    qualifier = 1 if contact_id else None
    event = Event(code=family, category=Category.ALARM, description="", qualifier=qualifier)
    return event_priority(event)


def is_periodic_test(event: StoredEvent) -> bool:
    """A periodic test report (Contact ID 602/608, SIA RP)."""
    code = str(event.get("code") or "")
    if event.get("qualifier") is not None:
        return code in PERIODIC_TEST_CID
    return code in PERIODIC_TEST_SIA
