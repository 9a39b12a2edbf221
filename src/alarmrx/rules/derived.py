"""What a rule concludes (``Derived``), and how it is written to the journal.

Every derived type is given the SIA DCS code of the same meaning (YC communications fail,
YK communications restoral, YS communications trouble, BV burglary verified, TS/TE test
start/end, YN invalid report), so its category and priority come from the same tables as a
panel's events.
``key`` identifies the conclusion: the same inputs always give the same key, which is how a
replay recognises a conclusion the journal already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import msgspec

from alarmrx.journal.bodies import DerivedBody, OtherDerived
from alarmrx.journal.records import NewRecord, RecordKind
from alarmrx.protocols.dc09.message import Category, Event
from alarmrx.protocols.priority import Priority, event_priority


class DerivedType(StrEnum):
    """The ``type`` of a derived record (and of its MQTT event)."""

    SUPERVISION_LOST = "supervision.lost"
    SUPERVISION_RESTORED = "supervision.restored"
    PATH_FAULT = "supervision.path_fault"
    PATH_RESTORED = "supervision.path_restored"
    ALARM_VERIFIED = "alarm.verified"
    TEST_STARTED = "test.started"
    TEST_ENDED = "test.ended"
    ALARM_CANCELLED = "alarm.cancelled"
    ALARM_FALSE = "alarm.false"
    ALARM_CLOSED = "alarm.closed"
    ALARM_EXPIRED = "alarm.expired"
    CARD_YELLOW = "card.yellow"
    CARD_RED = "card.red"
    CARD_CLEARED = "card.cleared"
    CARD_TEMPORARY = "card.temporary"
    LATE_TO_ARM = "schedule.late_to_arm"
    UNEXPECTED_DISARM = "schedule.unexpected_disarm"
    NOT_ARMED_EVENING = "schedule.not_armed_evening"
    OVERTIME = "schedule.overtime"
    REARM_MISSING = "rearm.missing"
    PAYLOAD_UNRECOGNISED = "payload.unrecognised"
    DISPATCH_ADVICE = "dispatch.advice"


@dataclass(frozen=True, slots=True)
class Meaning:
    """The SIA DCS code standing for a derived type, and its category."""

    code: str
    category: Category


MEANINGS: Mapping[DerivedType, Meaning] = MappingProxyType(
    {
        DerivedType.SUPERVISION_LOST: Meaning("YC", Category.TROUBLE),
        DerivedType.SUPERVISION_RESTORED: Meaning("YK", Category.RESTORE),
        DerivedType.PATH_FAULT: Meaning("YS", Category.TROUBLE),
        DerivedType.PATH_RESTORED: Meaning("YK", Category.RESTORE),
        DerivedType.ALARM_VERIFIED: Meaning("BV", Category.ALARM),
        DerivedType.TEST_STARTED: Meaning("TS", Category.TEST),
        DerivedType.TEST_ENDED: Meaning("TE", Category.TEST),
        # OC "cancel report"; no SIA DCS code means a false alarm or a card: YY "status report"
        DerivedType.ALARM_CANCELLED: Meaning("OC", Category.CANCEL),
        DerivedType.ALARM_FALSE: Meaning("YY", Category.STATUS),
        DerivedType.ALARM_CLOSED: Meaning("YY", Category.STATUS),
        DerivedType.ALARM_EXPIRED: Meaning("YY", Category.STATUS),
        DerivedType.CARD_YELLOW: Meaning("YY", Category.STATUS),
        DerivedType.CARD_RED: Meaning("YY", Category.STATUS),
        DerivedType.CARD_CLEARED: Meaning("YY", Category.STATUS),
        DerivedType.CARD_TEMPORARY: Meaning("YY", Category.STATUS),
        # Schedules (docs/schedules.md): OT late to close, OK early open (the nearest SIA
        # code for a disarm outside the open periods), CI fail to close (the evening
        # window), CD closing delinquent, CE closing extend.
        DerivedType.LATE_TO_ARM: Meaning("OT", Category.SUPERVISORY),
        DerivedType.UNEXPECTED_DISARM: Meaning("OK", Category.SUPERVISORY),
        DerivedType.NOT_ARMED_EVENING: Meaning("CI", Category.SUPERVISORY),
        DerivedType.REARM_MISSING: Meaning("CD", Category.SUPERVISORY),
        DerivedType.OVERTIME: Meaning("CE", Category.STATUS),
        # YN "invalid report": the transmitter sent a packet with data we could not read.
        DerivedType.PAYLOAD_UNRECOGNISED: Meaning("YN", Category.TROUBLE),
        # No SIA DCS code means advice either; it takes its alarm's priority class
        # (``Derived.urgency``), so a backlog publishes it with its alarm.
        DerivedType.DISPATCH_ADVICE: Meaning("YY", Category.STATUS),
    }
)


class Derived(msgspec.Struct, frozen=True, kw_only=True):
    """One conclusion of a rule, not yet journaled.

    ``at`` is when it was concluded (the journal's ``received_at``); ``refs`` are the
    ``journal_seq`` of the records it concludes from; ``fields`` are the rule's own body
    fields (JSON-able); ``test`` is set by the runner from the account's test mode;
    ``urgency``, when set, is the priority class instead of its SIA DCS code's. A Struct:
    one is built for every conclusion (a dispatch advice for every alarm), in C; a copy with
    other values is ``msgspec.structs.replace``.
    """

    type: DerivedType
    account: str
    at: datetime
    key: str
    description: str
    refs: tuple[int, ...] = ()
    zone: int | str | None = None
    area: int | str | None = None
    test: bool = False
    fields: Mapping[str, Any] = msgspec.field(default_factory=dict)
    urgency: Priority | None = None

    @property
    def priority(self) -> Priority:
        """The priority class of its SIA DCS code (or ``urgency``)."""
        return _PRIORITIES[self.type] if self.urgency is None else self.urgency


def _priority(meaning: Meaning) -> Priority:
    """The priority class of a derived type's SIA DCS code (read from its code and category
    alone)."""
    return event_priority(Event(code=meaning.code, category=meaning.category, description=""))


_PRIORITIES: Mapping[DerivedType, Priority] = MappingProxyType(
    {kind: _priority(meaning) for kind, meaning in MEANINGS.items()}
)
# (type, code, category) as stored, as plain strings
_STORED: Mapping[DerivedType, tuple[str, str, str]] = MappingProxyType(
    {kind: (kind.value, m.code, m.category.value) for kind, m in MEANINGS.items()}
)


def body(derived: Derived) -> dict[str, Any]:
    """The journal body: what ``mqtt/payloads.py`` publishes, plus the rule's fields."""
    kind, code, category = _STORED[derived.type]
    return {
        **derived.fields,
        "type": kind,
        "key": derived.key,
        "code": code,
        "category": category,
        "description": derived.description,
        "zone": derived.zone,
        "area": derived.area,
        "refs": sorted(set(derived.refs)),
        "test": derived.test,
    }


_DERIVED = RecordKind.DERIVED  # a global: read for every conclusion


def new_record(derived: Derived) -> NewRecord:
    """The DERIVED record to append for ``derived``."""
    return NewRecord(
        kind=_DERIVED,
        received_at=derived.at,
        account=derived.account,
        body=body(derived),
        priority=int(derived.priority),
    )


_BY_VALUE: Mapping[str, DerivedType] = MappingProxyType({t.value: t for t in DerivedType})


def kind_of(body: DerivedBody | OtherDerived | None) -> DerivedType | None:
    """The type of a typed derived body; None for one this package does not write."""
    return None if body is None else _BY_VALUE.get(body.type or "")


def iso(moment: datetime) -> str:
    """A moment as stored in bodies and keys: ISO 8601 with microseconds."""
    return moment.isoformat(timespec="microseconds")
