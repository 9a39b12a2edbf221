"""Account state (``state/{account}``), a pure fold over journal records.

``StateBook.apply(record)`` says whether the record changed its account's state (``Change``).
The publisher rebuilds the book at start by replaying the journal from its first record up to
its cursor, then keeps applying what it tails; records at or below ``applied_seq`` are
ignored, so a replayed record counts once.

What each record tells:
- armed state per area: ``close`` events arm the area, ``open`` events disarm it;
- open alarms (docs/mqtt.md, "Open alarms"): an ``alarm`` event opens one per (code family,
  zone); it closes by a ``restore`` of the same family and zone, by a panel ``cancel`` of its
  area (all for no area), by an ``open`` (disarm) of its area when it is of the intrusion
  class, and by the derived ``alarm.cancelled``, ``alarm.closed`` (an operator's command)
  and ``alarm.expired`` (aged out, or pushed out by newer ones: ``rules/alarms.py``) naming
  it. The family is the Contact ID code, or the SIA code's first letter (BA/BR, FA/FR, TA/TR);
- link: ``online`` once any frame is seen; a ``link`` field in the body wins; derived
  ``supervision.lost`` / ``supervision.restored`` set ``offline`` / ``online``,
  ``supervision.path_fault`` / ``supervision.path_restored`` ``path_fault`` / ``online``;
- test mode: derived ``test.started`` / ``test.ended`` (and a ``test`` flag in the body of
  message records of older journals; the receiver no longer writes it); ``in_test_at`` tells
  whether a message was received in test, by the session that held at its receipt;
- the false-alarm card and temporary changes: the account's ``Standing``, folded by
  ``standing.py`` (the one fold the rules use too).

Everything kept per account is bounded whatever the panels send (docs/performance.md,
"Memory"): ``MAX_OPEN_ALARMS`` open alarms (a newer one pushes the oldest out),
``MAX_AREAS`` areas (a new one pushes out the one changed longest ago), ``standing.MAX_NOTES``
temporary changes, and zones, areas, users and codes sent as text are cut to ``MAX_TEXT``
characters (the journal and the events keep them whole).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import IntEnum
from types import MappingProxyType

import msgspec

from alarmrx.journal import bodies
from alarmrx.journal.bodies import DerivedBody, EventBody, MessageBody, OnAlarmBody, OtherDerived
from alarmrx.journal.records import Record, RecordKind
from alarmrx.protocols.dc09.message import Category
from alarmrx.protocols.dc09.message import Event as MessageEvent
from alarmrx.protocols.priority import Priority, event_priority
from alarmrx.rules.derived import DerivedType, kind_of
from alarmrx.rules.standing import (
    NOTHING,
    CardPeriod,
    Standing,
    TemporaryNote,
    standing_after,
)

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_DERIVED = RecordKind.DERIVED

Area = int | str | None
Label = int | str | None  # a zone, area or user: a number, or text verbatim

MAX_OPEN_ALARMS = 32  # per account; the retained state lists the newest few
MAX_AREAS = 16  # per account (panels with more areas keep the 16 changed last)
MAX_TEXT = 16  # characters kept of a zone, area, user or code sent as text


@dataclass(frozen=True, slots=True)
class AreaState:
    """An area's armed state as the last open/close event told it."""

    armed: bool
    changed_at: datetime
    user: int | str | None
    journal_seq: int


class OpenAlarm(msgspec.Struct, frozen=True, gc=False):
    """An alarm event without its restore yet (a Struct: one is built for every alarm the
    rules and the publisher fold; untracked by the collector, it holds only scalars)."""

    journal_seq: int
    index: int
    code: str
    contact_id: bool
    zone: int | str | None
    area: Area
    since: datetime
    kind: str = "other"  # the priority class: holdup, fire, intrusion, trouble, other


@dataclass(frozen=True, slots=True)
class AccountState:
    """What is known about one account."""

    account: str | None
    journal_seq: int = 0
    last_event_at: datetime | None = None
    link: str = "unknown"
    test: bool = False
    areas: Mapping[Area, AreaState] = field(default_factory=lambda: MappingProxyType({}))
    open_alarms: tuple[OpenAlarm, ...] = ()
    standing: Standing = NOTHING  # the false-alarm card and test mode (``standing.py``)

    @property
    def card(self) -> CardPeriod | None:
        """The false-alarm card that holds."""
        return self.standing.card

    @property
    def past_cards(self) -> tuple[CardPeriod, ...]:
        """The last few cards, for events judged late."""
        return self.standing.past_cards

    @property
    def temporary(self) -> tuple[TemporaryNote, ...]:
        """The temporary changes to the account card."""
        return self.standing.temporary


Event = EventBody  # one event of a MESSAGE body
Effect = Callable[[AccountState, Record, int, Event], AccountState]

_LINK_BY_TYPE: Mapping[DerivedType | None, str] = MappingProxyType(
    {
        DerivedType.SUPERVISION_LOST: "offline",
        DerivedType.SUPERVISION_RESTORED: "online",
        DerivedType.PATH_FAULT: "path_fault",  # one path of a dual-path account is down
        DerivedType.PATH_RESTORED: "online",
    }
)
_TEST_TYPES = frozenset({DerivedType.TEST_STARTED, DerivedType.TEST_ENDED})


Alarms = tuple[OpenAlarm, ...]
AlarmEffect = Callable[[Alarms, Record, int, Event], Alarms]


def _family(code: str, contact_id: bool) -> str:
    return code if contact_id else code[:1]


def _alarm_key(alarm: OpenAlarm) -> tuple[str, object]:
    return (_family(alarm.code, alarm.contact_id), alarm.zone)


def _cut(value: object) -> Label:
    """A zone, area or user as kept: a number, or text of at most ``MAX_TEXT`` characters."""
    if value is None or isinstance(value, int):
        return value
    return str(value)[:MAX_TEXT]


def _event_key(event: Event) -> tuple[str, object]:
    contact_id = event.qualifier is not None
    return (_family(_code(event), contact_id), _cut(event.zone))


def _code(event: Event) -> str:
    return str(event.code or "")[:MAX_TEXT]


_KIND_NAMES = {p: p.name.lower() for p in Priority}


@functools.lru_cache(maxsize=256)
def _kind(family: str, contact_id: bool) -> str:
    """The priority class of an alarm of this code family (its first one or two characters
    are all ``event_priority`` reads)."""
    shape = MessageEvent(
        code=family, category=Category.ALARM, description="", qualifier=1 if contact_id else None
    )
    return _KIND_NAMES[event_priority(shape)]


def _opened(alarms: Alarms, record: Record, index: int, event: Event) -> Alarms:
    contact_id = event.qualifier is not None
    code = _code(event)
    alarm = OpenAlarm(
        journal_seq=record.journal_seq,
        index=index,
        code=code,
        contact_id=contact_id,
        zone=_cut(event.zone),
        area=_cut(event.area),
        since=record.received_at,
        kind=_kind(code[: 2 if contact_id else 1], contact_id),
    )
    key = _alarm_key(alarm)
    kept = tuple(a for a in alarms if _alarm_key(a) != key)
    return (*kept, alarm)


def _restored(alarms: Alarms, record: Record, index: int, event: Event) -> Alarms:
    key = _event_key(event)
    return tuple(a for a in alarms if _alarm_key(a) != key)


def _cancelled(alarms: Alarms, record: Record, index: int, event: Event) -> Alarms:
    area = _cut(event.area)
    return tuple(a for a in alarms if area is not None and a.area != area)


def _disarmed(alarms: Alarms, record: Record, index: int, event: Event) -> Alarms:
    """A disarm closes the intrusion alarms of its area (all areas for none)."""
    area = _cut(event.area)
    return tuple(
        a for a in alarms if a.kind != "intrusion" or (area is not None and a.area != area)
    )


_ALARM_EFFECTS: Mapping[str, AlarmEffect] = MappingProxyType(
    {
        Category.ALARM: _opened,
        Category.RESTORE: _restored,
        Category.CANCEL: _cancelled,
        Category.OPEN: _disarmed,
    }
)


# The derived types that close the alarm(s) they name by ``alarm_seq`` (and ``index``).
CLOSING_TYPES = frozenset(
    {DerivedType.ALARM_CANCELLED, DerivedType.ALARM_CLOSED, DerivedType.ALARM_EXPIRED}
)


def _closed_by(alarms: Alarms, body: DerivedBody | OtherDerived | None) -> Alarms:
    """Without the alarm(s) a closing derived record names (``alarm_seq``; ``index`` None:
    every event of it)."""
    if not isinstance(body, OnAlarmBody) or kind_of(body) not in CLOSING_TYPES:
        return alarms
    seq, index = body.alarm_seq, body.index
    if seq is None:
        return alarms
    return tuple(
        a for a in alarms if a.journal_seq != seq or (index is not None and a.index != index)
    )


def open_alarms_after(alarms: Alarms, record: Record) -> Alarms:
    """The open alarms of ``record.account`` after ``record``, before the limit: the ones
    before the last ``MAX_OPEN_ALARMS`` are pushed out (``rules/alarms.py`` records it)."""
    if record.kind is _DERIVED:
        return _closed_by(alarms, bodies.derived(record)) if alarms else alarms
    body = bodies.message(record)
    if body is None:
        return alarms
    for index, event in enumerate(body.events):
        effect = _ALARM_EFFECTS.get(event.category or "")
        if effect is not None:
            alarms = effect(alarms, record, index, event)
    return alarms


def _armer(armed: bool) -> Effect:
    def set_area(state: AccountState, record: Record, index: int, event: Event) -> AccountState:
        area = AreaState(
            armed=armed,
            changed_at=record.received_at,
            user=_cut(event.user),
            journal_seq=record.journal_seq,
        )
        key = _cut(event.area)
        areas = {**state.areas, key: area}
        if len(areas) > MAX_AREAS:
            del areas[min(areas, key=lambda a: areas[a].journal_seq)]
        return replace(state, areas=MappingProxyType(areas))

    return set_area


_AREA_EFFECTS: Mapping[str, Effect] = MappingProxyType(
    {Category.CLOSE: _armer(True), Category.OPEN: _armer(False)}
)


def _panel_events(state: AccountState, record: Record, body: MessageBody) -> AccountState:
    for index, event in enumerate(body.events):
        effect = _AREA_EFFECTS.get(event.category or "")
        if effect is not None:
            state = effect(state, record, index, event)
    return state


Frame = MessageBody | DerivedBody | OtherDerived


def _link(state: AccountState, record: Record, frame: Frame, kind: DerivedType | None) -> str:
    if frame.link is not None:
        return frame.link
    if record.kind is _DERIVED:
        return _LINK_BY_TYPE.get(kind, state.link)
    return "online"


def _test(state: AccountState, frame: Frame, kind: DerivedType | None, after: Standing) -> bool:
    if kind in _TEST_TYPES:
        return after.session is not None
    return state.test if frame.test is None else frame.test


def card_at(state: AccountState, at: datetime) -> str:
    """The false-alarm card that held at ``at``: ``none``, ``yellow`` or ``red``."""
    return state.standing.card_at(at)


def advance(state: AccountState, record: Record) -> AccountState:
    """The state of ``record.account`` after ``record`` (a MESSAGE or DERIVED record)."""
    frame = bodies.view(record)
    kind: DerivedType | None = None
    if isinstance(frame, MessageBody):
        state = _panel_events(state, record, frame)
        standing = state.standing
        if standing.temporary:  # drops the temporary changes a day past their end
            standing = standing_after(standing, None, None, record.received_at, 0)
    elif isinstance(frame, DerivedBody | OtherDerived):
        kind = kind_of(frame)
        standing = standing_after(
            state.standing, kind, frame, record.received_at, record.journal_seq
        )
    else:
        return state
    # the constructor, not ``replace``: this runs for every record (about 3 us less)
    return AccountState(
        state.account,
        record.journal_seq,
        record.received_at,
        _link(state, record, frame, kind),
        _test(state, frame, kind, standing),
        state.areas,
        open_alarms_after(state.open_alarms, record)[-MAX_OPEN_ALARMS:],
        standing,
    )


_STATEFUL_KINDS = frozenset({RecordKind.MESSAGE, RecordKind.DERIVED})


class Change(IntEnum):
    """What a record did to its account's state."""

    NONE = 0  # a replay, or a record kind that tells nothing about an account
    SEEN = 1  # only ``journal_seq`` / ``last_event_at`` moved (a link test report, …)
    CHANGED = 2  # link, test mode, an area or the open alarms changed


# What ``Change.CHANGED`` is about: every field but journal_seq and last_event_at.
_MATERIAL = tuple(
    f.name for f in fields(AccountState) if f.name not in {"journal_seq", "last_event_at"}
)


def _changed(before: AccountState, after: AccountState) -> bool:
    return any(getattr(before, name) != getattr(after, name) for name in _MATERIAL)


class StateBook:
    """Every account's state, folded from the journal in order."""

    def __init__(self) -> None:
        self.accounts: dict[str | None, AccountState] = {}
        self.applied_seq = 0

    def apply(self, record: Record) -> Change:
        """Fold one record in (a record at or below ``applied_seq`` is a replay: ignored)."""
        if record.journal_seq <= self.applied_seq:
            return Change.NONE
        self.applied_seq = record.journal_seq
        if record.kind not in _STATEFUL_KINDS:
            return Change.NONE
        before = self.accounts.get(record.account)
        after = advance(before or AccountState(account=record.account), record)
        self.accounts[record.account] = after
        if before is None or _changed(before, after):
            return Change.CHANGED
        return Change.SEEN


def in_test_at(state: AccountState | None, at: datetime) -> bool:
    """Whether the account was in test mode at ``at``, as its ``test.started`` and
    ``test.ended`` records tell (the current session or a recent past one)."""
    return state is not None and state.standing.was_in_test(at)
