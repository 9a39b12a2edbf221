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
  message records of older journals; the receiver no longer writes it); the last few
  sessions are kept (``TestPeriod``) so that ``in_test_at`` tells whether a message was received
  in test, whatever order the publisher folds a window in.

Everything kept per account is bounded whatever the panels send (docs/performance.md,
"Memory"): ``MAX_OPEN_ALARMS`` open alarms (a newer one pushes the oldest out),
``MAX_AREAS`` areas (a new one pushes out the one changed longest ago), ``MAX_NOTES``
temporary changes, and zones, areas, users and codes sent as text are cut to ``MAX_TEXT``
characters (the journal and the events keep them whole).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import Any

from alarmrx.journal.isotime import parse_iso_time
from alarmrx.journal.records import Record, RecordKind
from alarmrx.protocols.dc09.message import Category
from alarmrx.protocols.dc09.message import Event as MessageEvent
from alarmrx.protocols.priority import Priority, event_priority

Area = int | str | None
Label = int | str | None  # a zone, area or user: a number, or text verbatim

MAX_OPEN_ALARMS = 32  # per account; the retained state lists the newest few
MAX_AREAS = 16  # per account (panels with more areas keep the 16 changed last)
MAX_NOTES = 4  # temporary changes per account
MAX_TEXT = 16  # characters kept of a zone, area, user or code sent as text
MAX_NOTE = 64  # characters kept of a temporary change's note (the journal keeps it whole)


@dataclass(frozen=True, slots=True)
class AreaState:
    """An area's armed state as the last open/close event told it."""

    armed: bool
    changed_at: datetime
    user: int | str | None
    journal_seq: int


@dataclass(frozen=True, slots=True)
class OpenAlarm:
    """An alarm event without its restore yet."""

    journal_seq: int
    index: int
    code: str
    contact_id: bool
    zone: int | str | None
    area: Area
    since: datetime
    kind: str = "other"  # the priority class: holdup, fire, intrusion, trouble, other


@dataclass(frozen=True, slots=True)
class CardPeriod:
    """A yellow or red false-alarm card, held from ``since`` until ``until`` (exclusive)."""

    level: str
    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class TemporaryNote:
    """A temporary change to the account card (command ``temporary_change``)."""

    note: str
    since: datetime
    until: datetime
    journal_seq: int


@dataclass(frozen=True, slots=True)
class TestPeriod:
    """A test-mode session, from ``since`` until ``until`` (exclusive)."""

    __test__ = False  # not a pytest test class, despite the name

    since: datetime
    until: datetime


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
    card: CardPeriod | None = None  # the false-alarm card that holds
    past_cards: tuple[CardPeriod, ...] = ()  # the last few, for events published late
    temporary: tuple[TemporaryNote, ...] = ()
    test_periods: tuple[TestPeriod, ...] = ()  # the current session last, then past ones


Event = Mapping[str, Any]
Effect = Callable[[AccountState, Record, int, Event], AccountState]

_LINK_BY_TYPE = MappingProxyType(
    {
        "supervision.lost": "offline",
        "supervision.restored": "online",
        "supervision.path_fault": "path_fault",  # one path of a dual-path account is down
        "supervision.path_restored": "online",
    }
)
_TEST_BY_TYPE = MappingProxyType({"test.started": True, "test.ended": False})


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
    contact_id = event.get("qualifier") is not None
    return (_family(_code(event), contact_id), _cut(event.get("zone")))


def _code(event: Event) -> str:
    return str(event.get("code") or "")[:MAX_TEXT]


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
    contact_id = event.get("qualifier") is not None
    code = _code(event)
    alarm = OpenAlarm(
        journal_seq=record.journal_seq,
        index=index,
        code=code,
        contact_id=contact_id,
        zone=_cut(event.get("zone")),
        area=_cut(event.get("area")),
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
    area = _cut(event.get("area"))
    return tuple(a for a in alarms if area is not None and a.area != area)


def _disarmed(alarms: Alarms, record: Record, index: int, event: Event) -> Alarms:
    """A disarm closes the intrusion alarms of its area (all areas for none)."""
    area = _cut(event.get("area"))
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


def _named_seq(body: Mapping[str, Any]) -> tuple[int, int | None] | None:
    """(alarm_seq, index) a closing derived record names; index None: every event of it."""
    seq, index = body.get("alarm_seq"), body.get("index")
    if not isinstance(seq, int):
        return None
    return seq, index if isinstance(index, int) else None


# The derived types that close the alarm(s) they name by ``alarm_seq`` (and ``index``).
CLOSING_TYPES = frozenset({"alarm.cancelled", "alarm.closed", "alarm.expired"})


def _closed_by(alarms: Alarms, body: Mapping[str, Any]) -> Alarms:
    named = _named_seq(body) if body.get("type") in CLOSING_TYPES else None
    if named is None:
        return alarms
    seq, index = named
    return tuple(
        a for a in alarms if a.journal_seq != seq or (index is not None and a.index != index)
    )


def open_alarms_after(alarms: Alarms, record: Record) -> Alarms:
    """The open alarms of ``record.account`` after ``record``, before the limit: the ones
    before the last ``MAX_OPEN_ALARMS`` are pushed out (``rules/alarms.py`` records it)."""
    if record.kind is RecordKind.DERIVED:
        return _closed_by(alarms, record.body) if alarms else alarms
    if record.kind is not RecordKind.MESSAGE:
        return alarms
    for index, event in enumerate(record.body.get("events") or []):
        effect = _ALARM_EFFECTS.get(event.get("category"))
        if effect is not None:
            alarms = effect(alarms, record, index, event)
    return alarms


def _armer(armed: bool) -> Effect:
    def set_area(state: AccountState, record: Record, index: int, event: Event) -> AccountState:
        area = AreaState(
            armed=armed,
            changed_at=record.received_at,
            user=_cut(event.get("user")),
            journal_seq=record.journal_seq,
        )
        key = _cut(event.get("area"))
        areas = {**state.areas, key: area}
        if len(areas) > MAX_AREAS:
            del areas[min(areas, key=lambda a: areas[a].journal_seq)]
        return replace(state, areas=MappingProxyType(areas))

    return set_area


_AREA_EFFECTS: Mapping[str, Effect] = MappingProxyType(
    {Category.CLOSE: _armer(True), Category.OPEN: _armer(False)}
)


def _panel_events(state: AccountState, record: Record) -> AccountState:
    for index, event in enumerate(record.body.get("events") or []):
        effect = _AREA_EFFECTS.get(event.get("category"))
        if effect is not None:
            state = effect(state, record, index, event)
    return state


def _link(state: AccountState, record: Record) -> str:
    hint = record.body.get("link")
    if isinstance(hint, str):
        return hint
    if record.kind is RecordKind.DERIVED:
        return _LINK_BY_TYPE.get(record.body.get("type", ""), state.link)
    return "online"


def _test(state: AccountState, record: Record) -> bool:
    by_type = (
        _TEST_BY_TYPE.get(record.body.get("type", ""))
        if record.kind is RecordKind.DERIVED
        else None
    )
    if by_type is not None:
        return by_type
    return bool(record.body.get("test", state.test))


PAST_TESTS = 4


def _test_periods(state: AccountState, record: Record) -> tuple[TestPeriod, ...]:
    """A ``test.started`` opens a period until its ``until``; a ``test.ended`` cuts the
    current one at its time (a session replaced by a new start ends where the new begins)."""
    periods = state.test_periods
    if record.kind is not RecordKind.DERIVED:
        return periods
    started = _TEST_BY_TYPE.get(record.body.get("type", ""))
    if started is None:
        return periods
    at = record.received_at
    if periods and periods[-1].until > at:  # the current one ends here
        periods = (*periods[:-1], replace(periods[-1], until=at))
    until = parse_iso_time(record.body.get("until")) if started else None
    if until is not None:
        periods = (*periods, TestPeriod(since=at, until=until))
    return periods[-PAST_TESTS:]


def in_test_at(state: AccountState | None, at: datetime) -> bool:
    """Whether the account was in test mode at ``at``, as its ``test.started`` and
    ``test.ended`` records tell."""
    return state is not None and any(p.since <= at < p.until for p in state.test_periods)


PAST_CARDS = 4
KEEP_NOTES = timedelta(days=1)


def _card_given(state: AccountState, record: Record) -> AccountState:
    body = record.body
    since, until = parse_iso_time(body.get("since")), parse_iso_time(body.get("until"))
    if since is None or until is None:
        return state
    card = CardPeriod(level=str(body.get("card")), since=since, until=until)
    past = (*state.past_cards, state.card) if state.card else state.past_cards
    return replace(state, card=card, past_cards=past[-PAST_CARDS:])


def _card_cleared(state: AccountState, record: Record) -> AccountState:
    if state.card is None:
        return state
    ended = replace(state.card, until=min(state.card.until, record.received_at))
    return replace(state, card=None, past_cards=(*state.past_cards, ended)[-PAST_CARDS:])


def _temporary(state: AccountState, record: Record) -> AccountState:
    body = record.body
    until = parse_iso_time(body.get("until"))
    if until is None:
        return state
    note = TemporaryNote(
        note=str(body.get("note"))[:MAX_NOTE],
        since=record.received_at,
        until=until,
        journal_seq=record.journal_seq,
    )
    return replace(state, temporary=(*state.temporary, note)[-MAX_NOTES:])


_CARD_EFFECTS: Mapping[str, Callable[[AccountState, Record], AccountState]] = MappingProxyType(
    {
        "card.yellow": _card_given,
        "card.red": _card_given,
        "card.cleared": _card_cleared,
        "card.temporary": _temporary,
    }
)


def _false_alarm_card(state: AccountState, record: Record) -> AccountState:
    """Cards given and cleared, temporary changes made (and dropped once over)."""
    if state.temporary:
        # kept a day past their end, so that an alarm published late still sees them
        kept = tuple(t for t in state.temporary if t.until > record.received_at - KEEP_NOTES)
        state = replace(state, temporary=kept) if kept != state.temporary else state
    effect = _CARD_EFFECTS.get(str(record.body.get("type")))
    return effect(state, record) if record.kind is RecordKind.DERIVED and effect else state


def card_at(state: AccountState, at: datetime) -> str:
    """The false-alarm card that held at ``at``: ``none``, ``yellow`` or ``red``."""
    for card in (state.card, *reversed(state.past_cards)):
        if card is not None and card.since <= at < card.until:
            return card.level
    return "none"


def advance(state: AccountState, record: Record) -> AccountState:
    """The state of ``record.account`` after ``record`` (a MESSAGE or DERIVED record)."""
    if record.kind is RecordKind.MESSAGE:
        state = _panel_events(state, record)
    state = _false_alarm_card(state, record)
    # the constructor, not ``replace``: this runs for every record (about 3 us less)
    return AccountState(
        state.account,
        record.journal_seq,
        record.received_at,
        _link(state, record),
        _test(state, record),
        state.areas,
        open_alarms_after(state.open_alarms, record)[-MAX_OPEN_ALARMS:],
        state.card,
        state.past_cards,
        state.temporary,
        _test_periods(state, record),
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
