"""Priority classes (docs/architecture.md, "Priority"): hold-up/duress/panic, fire,
intrusion, trouble, other. Lower number = handled and published first under a backlog.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from alarmrx.protocols.dc09.message import Category, Event


class Priority(IntEnum):
    """The class of an event; its ``name.lower()`` appears in payloads."""

    HOLDUP = 1
    FIRE = 2
    INTRUSION = 3
    TROUBLE = 4
    OTHER = 5


# SIA DCS alarm families by first letter (docs/protocol.md, "SIA DCS data blocks"): H hold-up,
# P panic, Q emergency, M medical; F fire, K heat, S sprinkler; B burglary, T tamper,
# U untyped, E exit.
_SIA_ALARM_FAMILY = {
    "H": Priority.HOLDUP,
    "P": Priority.HOLDUP,
    "Q": Priority.HOLDUP,
    "M": Priority.HOLDUP,
    "F": Priority.FIRE,
    "K": Priority.FIRE,
    "S": Priority.FIRE,
    "B": Priority.INTRUSION,
    "T": Priority.INTRUSION,
    "U": Priority.INTRUSION,
    "E": Priority.INTRUSION,
}

# Contact ID alarm families by the first two digits (docs/protocol.md, "Contact ID data
# blocks"): 10x medical, 12x panic/hold-up/duress, 11x fire, 13x burglary, 14x general alarm.
_CID_ALARM_FAMILY = {
    "10": Priority.HOLDUP,
    "12": Priority.HOLDUP,
    "11": Priority.FIRE,
    "13": Priority.INTRUSION,
    "14": Priority.INTRUSION,
}

_TROUBLE_CATEGORIES = frozenset({Category.TROUBLE, Category.SUPERVISORY})


def event_priority(event: Event) -> Priority:
    """The priority class of one event, from its code and category."""
    if event.category is Category.ALARM:
        family = (
            _CID_ALARM_FAMILY.get(event.code[:2])
            if event.qualifier is not None
            else _SIA_ALARM_FAMILY.get(event.code[:1])
        )
        return family or Priority.TROUBLE
    if event.category in _TROUBLE_CATEGORIES:
        return Priority.TROUBLE
    return Priority.OTHER


def message_priority(events: Iterable[Event]) -> Priority:
    """The most urgent class among a message's events (OTHER for none)."""
    return min(map(event_priority, events), default=Priority.OTHER)
