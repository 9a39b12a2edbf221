"""The JSON payloads of the MQTT contract (docs/mqtt.md, docs/schema/*.json), built from
journal records. Pure: records and settings in, dicts out.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from alarmrx.journal import bodies
from alarmrx.journal.bodies import DerivedBody, DispatchAdvice, EventBody, MessageBody, OtherDerived
from alarmrx.journal.records import Record, RecordKind
from alarmrx.protocols.dc09.message import Category, Event
from alarmrx.protocols.priority import Priority, event_priority
from alarmrx.rules.standing import CardPeriod, TemporaryNote
from alarmrx.rules.state import AccountState, Area, AreaState, OpenAlarm, in_test_at

EVENT_SCHEMA = "alarmrx.event.v1"
PUBLISHED_KINDS = frozenset({RecordKind.MESSAGE, RecordKind.DERIVED})


@dataclass(frozen=True, slots=True)
class EventMessage:
    """One message for ``events/{account}``: the record's account and the payload."""

    account: str | None
    payload: dict[str, Any]


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return utc.isoformat()[:-6] + "Z"  # a UTC isoformat() ends in "+00:00"


def event_id(receiver_id: str, journal_seq: int, index: int) -> str:
    """The de-duplication id: the same for every redelivery of the same event."""
    return f"{receiver_id}:{journal_seq}:{index}"


@functools.lru_cache(maxsize=1024)
def _priority(code: str, category: str, contact_id: bool) -> Priority:
    shape = Event(
        code=code, category=Category(category), description="", qualifier=1 if contact_id else None
    )
    return event_priority(shape)


# An event's own fields: a panel event of a MESSAGE body, or a DERIVED body itself.
Fields = EventBody | DerivedBody | OtherDerived


def priority_of_event(event: Fields) -> Priority:
    """The priority class of one stored event."""
    contact_id = event.qualifier is not None
    # event_priority reads only the category, the code's family and whether it is Contact
    # ID: the family keeps the cache small whatever codes a panel sends
    code = (event.code or "")[: 2 if contact_id else 1]
    return _priority(code, event.category or Category.UNKNOWN, contact_id)


def _verified(event: Fields, priority: Priority, body: MessageBody | Fields) -> bool | None:
    """None unless a burglary alarm; then False until a rule or command verified it."""
    if priority is not Priority.INTRUSION or event.category != Category.ALARM:
        return None
    return bool(event.verified if event.verified is not None else body.verified)


def _zone_name(zone: object, zone_names: Mapping[str, str]) -> str | None:
    return None if zone is None or not zone_names else zone_names.get(str(zone))


def record_test(
    record: Record, frame: MessageBody | DerivedBody | OtherDerived, state: AccountState | None
) -> bool:
    """Whether ``record`` was received (a message) or concluded (a rule's record) in test
    mode: a rule marks its own records; a message is in test when the account's
    ``test.started`` and ``test.ended`` records say so at its receipt (``state``), unless its
    body has the ``test`` flag that older journals carry."""
    if frame.test is not None or record.kind is not RecordKind.MESSAGE:
        return bool(frame.test)
    return in_test_at(state, record.received_at)


def _common(
    record: Record, frame: MessageBody | DerivedBody | OtherDerived, receiver_id: str, test: bool
) -> dict[str, Any]:
    return {
        "schema": EVENT_SCHEMA,
        "journal_seq": record.journal_seq,
        "received_at": iso(record.received_at),
        "panel_time": frame.panel_time,
        "account": record.account,
        "receiver": frame.receiver,
        "line": frame.line,
        "transport": record.transport,
        "peer": record.peer,
        "token": frame.token,
        "sequence": frame.sequence,
        "encrypted": frame.encrypted,
        "test": test,
        "xdata": list(msgspec.to_builtins(frame.xdata)) if frame.xdata else [],
        # Every byte as the code point of the same value (ISO 8859-1): lossless, JSON-able.
        "raw": record.raw.decode("latin-1") if record.raw else None,
        "receiver_id": receiver_id,
    }


def _event_fields(event: Fields, zone_names: Mapping[str, str]) -> dict[str, Any]:
    contact_id = event.qualifier is not None
    code = event.code
    return {
        "category": event.category,
        "code": None if contact_id else code,
        "cid": code if contact_id else None,
        "qualifier": event.qualifier,
        "description": event.description,
        "address": event.address,
        "zone": event.zone,
        "zone_name": _zone_name(event.zone, zone_names),
        "area": event.area,
        "user": event.user,
        "text": event.text,
    }


def _advised_alarm(advice: DispatchAdvice, receiver_id: str) -> str | None:
    """The ``id`` of the alarm event a ``dispatch.advice`` body advises on."""
    if advice.alarm_seq is None or advice.index is None:
        return None
    return event_id(receiver_id, advice.alarm_seq, advice.index)


_PRIORITY_NAMES = {p: p.name.lower() for p in Priority}


def panel_events(
    record: Record,
    receiver_id: str,
    zone_names: Mapping[str, str],
    state: AccountState | None = None,
) -> list[EventMessage]:
    """One message per event of a MESSAGE record, ``index`` = position in the frame."""
    body = bodies.message(record)
    if body is None:
        return []
    common = _common(record, body, receiver_id, record_test(record, body, state))
    messages = []
    for index, event in enumerate(body.events):
        priority = priority_of_event(event)
        payload = {
            "id": event_id(receiver_id, record.journal_seq, index),
            **common,
            "type": "panel",
            **_event_fields(event, zone_names),
            "priority": _PRIORITY_NAMES[priority],
            "verified": _verified(event, priority, body),
            "refs": [],
            "dispatch": None,  # the advice follows as its own event, dispatch.advice
            "alarm_id": None,
        }
        messages.append(EventMessage(record.account, payload))
    return messages


def derived_event(
    record: Record,
    receiver_id: str,
    zone_names: Mapping[str, str],
    state: AccountState | None = None,
) -> list[EventMessage]:
    """The one message of a DERIVED record (a rule's conclusion, e.g. supervision.lost); a
    ``dispatch.advice`` carries the advice as journaled and names its alarm event."""
    body = bodies.derived(record)
    if body is None:
        return []
    advice = body if isinstance(body, DispatchAdvice) else None
    priority = Priority(record.priority)
    payload = {
        "id": event_id(receiver_id, record.journal_seq, 0),
        **_common(record, body, receiver_id, record_test(record, body, state)),
        "type": body.type,
        **_event_fields(body, zone_names),
        "priority": _PRIORITY_NAMES[priority],
        "verified": _verified(body, priority, body),
        "refs": list(body.refs),
        "dispatch": advice.dispatch if advice is not None else None,
        "alarm_id": _advised_alarm(advice, receiver_id) if advice is not None else None,
    }
    return [EventMessage(record.account, payload)]


_BUILDERS = {RecordKind.MESSAGE: panel_events, RecordKind.DERIVED: derived_event}


def event_messages(
    record: Record,
    receiver_id: str,
    zone_names: Mapping[str, str],
    state: AccountState | None = None,
) -> list[EventMessage]:
    """What ``record`` publishes on ``events/{account}``; nothing for other record kinds.
    ``state`` (its account's, from ``rules/state.py``) tells whether a message was received
    in test mode."""
    build = _BUILDERS.get(record.kind)
    return build(record, receiver_id, zone_names, state) if build else []


STATE_SCHEMA = "alarmrx.state.v1"
SHOWN_OPEN_ALARMS = 8  # the newest open alarms listed in the retained state
STATUS_SCHEMA = "alarmrx.receiver-status.v1"


def _area_payload(area: Area, state: AreaState) -> dict[str, Any]:
    return {
        "area": area,
        "armed": "armed" if state.armed else "disarmed",
        "changed_at": iso(state.changed_at),
        "user": state.user,
        "journal_seq": state.journal_seq,
    }


def _alarm_payload(
    alarm: OpenAlarm, receiver_id: str, zone_names: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "id": event_id(receiver_id, alarm.journal_seq, alarm.index),
        "code": None if alarm.contact_id else alarm.code,
        "cid": alarm.code if alarm.contact_id else None,
        "zone": alarm.zone,
        "zone_name": _zone_name(alarm.zone, zone_names),
        "area": alarm.area,
        "since": iso(alarm.since),
        "journal_seq": alarm.journal_seq,
        "kind": alarm.kind,
    }


def _area_order(item: tuple[Area, AreaState]) -> tuple[bool, str]:
    return (item[0] is not None, str(item[0]))


def state_payload(
    state: AccountState, receiver_id: str, name: str | None, zone_names: Mapping[str, str]
) -> dict[str, Any]:
    """The retained ``state/{account}`` payload."""
    return {
        "schema": STATE_SCHEMA,
        "account": state.account,
        "name": name,
        "receiver_id": receiver_id,
        "journal_seq": state.journal_seq,
        "last_event_at": iso(state.last_event_at) if state.last_event_at else None,
        "link": state.link,
        "test": state.test,
        "areas": [_area_payload(a, s) for a, s in sorted(state.areas.items(), key=_area_order)],
        "open_alarms": [
            _alarm_payload(a, receiver_id, zone_names)
            for a in state.open_alarms[-SHOWN_OPEN_ALARMS:]
        ],
        "open_alarms_total": len(state.open_alarms),
        "open_alarm_counts": _alarm_counts(state.open_alarms),
        "card": _card_payload(state.card),
        "temporary_changes": [_temporary_payload(t) for t in state.temporary],
    }


_KINDS = tuple(p.name.lower() for p in Priority)


def _alarm_counts(alarms: tuple[OpenAlarm, ...]) -> dict[str, int]:
    counts = dict.fromkeys(_KINDS, 0)
    for alarm in alarms:
        counts[alarm.kind] += 1
    return counts


def _temporary_payload(note: TemporaryNote) -> dict[str, Any]:
    return {
        "note": note.note,
        "since": iso(note.since),
        "until": iso(note.until),
        "journal_seq": note.journal_seq,
    }


def _card_payload(card: CardPeriod | None) -> dict[str, Any]:
    if card is None:
        return {"level": "none", "since": None, "until": None}
    return {"level": card.level, "since": iso(card.since), "until": iso(card.until)}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverInfo:
    """What ``receivers/{id}/status`` tells about this receiver."""

    receiver_id: str
    version: str
    listeners: tuple[str, ...]
    started_at: datetime


def status_payload(info: ReceiverInfo, now: datetime) -> dict[str, Any]:
    """The retained ``receivers/{id}/status`` payload while the receiver runs."""
    return {
        "schema": STATUS_SCHEMA,
        "receiver_id": info.receiver_id,
        "status": "online",
        "version": info.version,
        "started_at": iso(info.started_at),
        "uptime_s": round((now - info.started_at).total_seconds(), 3),
        "listeners": list(info.listeners),
        "updated_at": iso(now),
    }


def offline_payload(receiver_id: str) -> dict[str, Any]:
    """The last will, and what a clean shutdown publishes: the same retained topic."""
    return {"schema": STATUS_SCHEMA, "receiver_id": receiver_id, "status": "offline"}
