"""Reading the panel events of a journaled MESSAGE body, as the rules see them."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from alarmrx.journal import bodies
from alarmrx.journal.bodies import EventBody
from alarmrx.journal.records import Record
from alarmrx.protocols.dc09.message import Category, Event
from alarmrx.protocols.priority import Priority, event_priority

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_ALARM = Category.ALARM

StoredEvent = EventBody  # one event of a MESSAGE body (``journal/bodies.py``)

# Periodic test reports (protocols/codes/contact_id_codes.csv, sia_dcs_codes.csv): Contact ID
# 602 "periodic test report" and 608 "periodic test, system trouble present"; SIA RP
# "automatic test". Manual tests (601, RX) are not periodic and do not count.
PERIODIC_TEST_CID = frozenset({"602", "608"})
PERIODIC_TEST_SIA = frozenset({"RP"})


def panel_events(record: Record) -> Iterator[tuple[int, StoredEvent]]:
    """(index in the frame, event) for every event of a MESSAGE record, once through."""
    body = bodies.message(record)
    return enumerate(body.events if body is not None else ())


def is_burglary_alarm(event: StoredEvent) -> bool:
    """An alarm of the intrusion class (the ones published with ``verified: false``)."""
    if event.category != _ALARM:
        return False
    return _intrusion(str(event.code or ""), event.qualifier is not None)


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
    contact_id = event.qualifier is not None
    code = str(event.code or "")[: 2 if contact_id else 1]
    return _alarm_priority(code, contact_id)


@lru_cache(maxsize=256)
def _alarm_priority(family: str, contact_id: bool) -> Priority:
    qualifier = 1 if contact_id else None
    event = Event(code=family, category=Category.ALARM, description="", qualifier=qualifier)
    return event_priority(event)


def is_periodic_test(event: StoredEvent) -> bool:
    """A periodic test report (Contact ID 602/608, SIA RP)."""
    code = str(event.code or "")
    if event.qualifier is not None:
        return code in PERIODIC_TEST_CID
    return code in PERIODIC_TEST_SIA
