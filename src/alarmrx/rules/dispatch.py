"""Dispatch advice (docs/commands.md): whom to call for an alarm, in which order, and
whether the police may be alerted. A pure function of the account card (configuration), the
account's false-alarm card at the alarm's receipt, the event's priority class and its test
flag; every alarm event carries it (``dispatch`` in ``events/{account}``).

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

from alarmrx.config.card_model import CardSettings, ContactSettings
from alarmrx.protocols.priority import Priority
from alarmrx.rules.state import AccountState, card_at

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

# priority class, receipt time, test flag -> the advice
Advise = Callable[[Priority, datetime, bool], dict[str, Any]]


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


def _procedure(card: CardSettings | None, priority: Priority) -> Procedure:
    if card is None:
        return Procedure((), DEFAULT_SERVICES[priority])
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
    if priority is Priority.HOLDUP and not (card is not None and card.holdup_link):
        return "no registered hold-up link"
    return None


def advice(
    card: CardSettings | None,
    state: AccountState | None,
    priority: Priority,
    at: datetime,
    *,
    test: bool,
) -> dict[str, Any]:
    """The ``dispatch`` object of one alarm event."""
    level = card_at(state, at) if state is not None else "none"
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
    notes += [t.note for t in (state.temporary if state else ()) if t.since <= at < t.until]
    return {
        "call": call,
        "services": list(services),
        "police": POLICE in services,
        "reason": reason or "procedure",
        "card": level,
        "notes": notes,
    }


def advisor(card: CardSettings | None, state: AccountState | None) -> Advise:
    """``advice`` for one account, waiting for an event's priority, time and test flag."""

    def advise(priority: Priority, at: datetime, test: bool) -> dict[str, Any]:
        return advice(card, state, priority, at, test=test)

    return advise
