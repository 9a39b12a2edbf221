"""Reading the panel events of a journaled MESSAGE body, as the rules see them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from alarmrx.journal.records import Record, RecordKind
from alarmrx.protocols.dc09.message import Category, Event
from alarmrx.protocols.priority import Priority, event_priority

StoredEvent = Mapping[str, Any]

# Periodic test reports (research/contact_id_codes.csv, sia_dcs_codes.csv): Contact ID
# 602 "periodic test report" and 608 "periodic test, system trouble present"; SIA RP
# "automatic test". Manual tests (601, RX) are not periodic and do not count.
PERIODIC_TEST_CID = frozenset({"602", "608"})
PERIODIC_TEST_SIA = frozenset({"RP"})


def panel_events(record: Record) -> Iterator[tuple[int, StoredEvent]]:
    """(index in the frame, event) for every event of a MESSAGE record."""
    if record.kind is not RecordKind.MESSAGE:
        return
    for index, event in enumerate(record.body.get("events") or ()):
        if isinstance(event, Mapping):
            yield index, event


def _shape(event: StoredEvent) -> Event:
    try:
        category = Category(event.get("category") or Category.UNKNOWN)
    except ValueError:
        category = Category.UNKNOWN
    return Event(code=str(event.get("code") or ""), category=category, description="",
                 qualifier=event.get("qualifier"))  # fmt: skip


def is_burglary_alarm(event: StoredEvent) -> bool:
    """An alarm of the intrusion class (the ones published with ``verified: false``)."""
    if event.get("category") != Category.ALARM:
        return False
    return event_priority(_shape(event)) is Priority.INTRUSION


def is_periodic_test(event: StoredEvent) -> bool:
    """A periodic test report (Contact ID 602/608, SIA RP)."""
    code = str(event.get("code") or "")
    if event.get("qualifier") is not None:
        return code in PERIODIC_TEST_CID
    return code in PERIODIC_TEST_SIA
