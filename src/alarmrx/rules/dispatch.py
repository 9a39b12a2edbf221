"""Dispatch advice (docs/commands.md): whom to call for an alarm, in which order, and
whether the police may be alerted. A pure function of the account card (configuration), the
account's false-alarm card at the alarm's receipt, the event's priority class and whether
the account was in test mode then.

``DispatchCore`` is the rule: for every alarm event (a panel event of category ``alarm``, or
a derived ``alarm.verified``) it concludes ``dispatch.advice``, journaled like every other
conclusion (evidence of what the centre was advised) and published as its own event. Its key
names the alarm (``dispatch.advice|{account}|{journal_seq}|{index}``), so a replay or a
restart never advises on one alarm twice; ``refs`` is the alarm's record.

The first rule that applies gives the ``reason``:

1. the account is in test mode: nobody is called, no service alerted (``test mode``);
2. a red card holds at the alarm's receipt: no police (``red card``);
3. a hold-up alarm of an account without ``holdup_link = true``: no police
   (``no registered hold-up link``);
4. otherwise the procedure decides (``procedure``).

The procedure is the card's ``[[accounts.card.procedures]]`` entry for the alarm type; without
one, every warning person is called by ``sequence`` and the services are ``DEFAULT_SERVICES``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import msgspec

from alarmrx.config.card_model import CardSettings, ContactSettings
from alarmrx.journal import bodies
from alarmrx.journal.bodies import AlarmVerified, Label
from alarmrx.journal.records import Record, RecordKind
from alarmrx.protocols.dc09.message import Category
from alarmrx.protocols.priority import Priority
from alarmrx.rules.derived import Derived, DerivedType
from alarmrx.rules.events import alarm_priority, panel_events
from alarmrx.rules.interfaces import Untimed
from alarmrx.rules.standing import NOTHING, Standing

# read for every record: module globals, as reading an enum member from its class is a
# slower lookup than a global
_ALARM, _DISPATCH_ADVICE, _MESSAGE = Category.ALARM, DerivedType.DISPATCH_ADVICE, RecordKind.MESSAGE
_HOLDUP = Priority.HOLDUP

POLICE = "police"
DEFAULT_SERVICES: Mapping[Priority, tuple[str, ...]] = MappingProxyType(
    {
        Priority.HOLDUP: (POLICE,),
        Priority.FIRE: ("fire_brigade",),
        Priority.INTRUSION: (POLICE,),
        Priority.TROUBLE: (),
        Priority.OTHER: (),
    }
)


def _callee(contact: ContactSettings) -> dict[str, Any]:
    return {
        "id_code": contact.id_code,
        "name": contact.name,
        "phone": contact.phone,
        "sequence": contact.sequence,
    }


def _warning_persons(card: CardSettings) -> list[ContactSettings]:
    warning = [c for c in card.contacts if c.role == "warning"]
    listed = {c.id_code: i for i, c in enumerate(warning)}
    return sorted(warning, key=lambda c: (c.sequence or len(warning) + 1, listed[c.id_code]))


@dataclass(frozen=True, slots=True)
class Procedure:
    """Whom to call (in order), which services to alert, and the procedure's note."""

    call: tuple[dict[str, Any], ...]
    services: tuple[str, ...]
    note: str | None = None


# An account without a card: nobody to call, the default services (values: shared as they are)
_NO_CARD: Mapping[Priority, Procedure] = MappingProxyType(
    {priority: Procedure((), services) for priority, services in DEFAULT_SERVICES.items()}
)


def _procedure(card: CardSettings | None, priority: Priority) -> Procedure:
    if card is None:
        return _NO_CARD[priority]
    procedure = card.procedure(priority.name.lower())
    people = _warning_persons(card)
    if procedure is not None and procedure.contacts is not None:
        by_code = {c.id_code: c for c in people}
        people = [by_code[code] for code in procedure.contacts if code in by_code]
    services = DEFAULT_SERVICES[priority]
    if procedure is not None and procedure.services is not None:
        services = procedure.services
    return Procedure(
        tuple(_callee(c) for c in people), services, procedure.note if procedure else None
    )


def _blocked(card: CardSettings | None, level: str, priority: Priority) -> str | None:
    """Why the police may not be alerted although the procedure says so."""
    if level == "red":
        return "red card"
    if priority is _HOLDUP and not (card is not None and card.holdup_link):
        return "no registered hold-up link"
    return None


def advice(
    card: CardSettings | None,
    standing: Standing | None,
    priority: Priority,
    at: datetime,
    *,
    test: bool,
) -> dict[str, Any]:
    """The advice for one alarm of class ``priority`` received ``at``: ``standing`` gives
    the false-alarm card and the temporary changes (``standing.py``)."""
    standing = standing or NOTHING
    level = standing.card_at(at)
    procedure = _procedure(card, priority)
    call, services = list(procedure.call), procedure.services
    reason = "test mode" if test else None
    if test:
        call, services = [], ()
    elif POLICE in services:
        reason = _blocked(card, level, priority)
    if reason is not None:
        services = tuple(s for s in services if s != POLICE)
    notes = [text for text in (card.instructions if card else None, procedure.note) if text]
    notes += standing.notes_at(at)
    return {
        "call": call,
        "services": list(services),
        "police": POLICE in services,
        "reason": reason or "procedure",
        "card": level,
        "notes": notes,
    }


def _summary(dispatch: Mapping[str, Any]) -> str:
    services = ", ".join(dispatch["services"]) or "no service"
    return f"Dispatch advice: {services}, {len(dispatch['call'])} to call ({dispatch['reason']})"


_ADVICE = DerivedType.DISPATCH_ADVICE.value  # its keys' first part

# The derived alarms advised on (the alarm events among the conclusions of the rules).
ADVISED_TYPES = frozenset({DerivedType.ALARM_VERIFIED})
ADVISED_BODIES = (AlarmVerified,)


class Alarm(msgspec.Struct, frozen=True, gc=False):
    """The alarm event advised on: its account, receipt, record and place in it (a Struct:
    one is built for every alarm)."""

    account: str
    at: datetime
    journal_seq: int
    index: int


class DispatchCore(Untimed):
    """The advice for every alarm of a configured account (``accounts``), from the account
    cards (configuration), the card core's standing of the account (``standing``) and test
    mode (``in_test``). An account that is not configured (accepted by ``unknown_accounts``)
    is advised nothing: no centre procedure covers it, and a scanner inventing accounts
    must not double what the journal writes."""

    def __init__(
        self,
        cards: Mapping[str, CardSettings],
        accounts: frozenset[str],
        standing: Callable[[str], Standing],
        in_test: Callable[[str, datetime], bool],
    ) -> None:
        self._cards = cards
        self._accounts = accounts
        self._standing = standing
        self._in_test = in_test
        self._last_seq = 0

    def configure(
        self, cards: Mapping[str, CardSettings], accounts: frozenset[str], now: datetime
    ) -> None:
        """New account cards and accounts (a reload): alarms from now on are advised by
        them."""
        del now
        self._cards, self._accounts = cards, accounts

    def handle(self, record: Record) -> list[Derived]:
        """The advice for the alarms of one record (panel alarm events, or a derived alarm
        such as ``alarm.verified``)."""
        if record.journal_seq <= self._last_seq or record.account not in self._accounts:
            return []
        self._last_seq = record.journal_seq
        if record.kind is _MESSAGE:
            return [
                self._advise(
                    Alarm(str(record.account), record.received_at, record.journal_seq, index),
                    event.zone,
                    event.area,
                    alarm_priority(event),
                )
                for index, event in panel_events(record)
                if event.category == _ALARM
            ]
        body = bodies.derived(record)
        if isinstance(body, ADVISED_BODIES):
            alarm = Alarm(str(record.account), record.received_at, record.journal_seq, 0)
            return [self._advise(alarm, body.zone, body.area, Priority(record.priority))]
        return []

    def on_recorded(self, derived: Derived, journal_seq: int) -> list[Derived]:
        """The advice for an alarm the rules concluded (``alarm.verified``), once appended
        as ``journal_seq``."""
        if derived.type not in ADVISED_TYPES or derived.account not in self._accounts:
            return []
        alarm = Alarm(derived.account, derived.at, journal_seq, 0)
        return [self._advise(alarm, derived.zone, derived.area, derived.priority)]

    def _advise(self, alarm: Alarm, zone: Label, area: Label, priority: Priority) -> Derived:
        account, at, seq, index = alarm.account, alarm.at, alarm.journal_seq, alarm.index
        dispatch = advice(
            self._cards.get(account),
            self._standing(account),
            priority,
            at,
            test=self._in_test(account, at),
        )
        fields = {"alarm_seq": seq, "index": index, "dispatch": dispatch}
        return Derived(
            type=_DISPATCH_ADVICE,
            account=account,
            at=at,
            key=f"{_ADVICE}|{account}|{seq}|{index}",
            description=_summary(dispatch),
            refs=(seq,),
            zone=zone,
            area=area,
            fields=MappingProxyType(fields),
            urgency=priority,
        )
