"""The account card (``[accounts.card]``): the protected object, its contacts and the
procedure per alarm type (docs/commands.md). Frozen values built by the loader.

Kept apart from ``model.py`` so that the card's keys change in one place; ``model.py``
only names ``CardSettings`` as the type of ``AccountSettings.card``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["authorised", "warning"]
AlarmType = Literal["holdup", "fire", "intrusion", "trouble", "other"]

FACTORY_PIN = "0000"
DEFAULT_CANCEL_WINDOW_S = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactSettings:
    """``[[accounts.card.contacts]]``: one person who may send commands for the account.

    *Authorised persons* may cancel and run the other commands and are never called;
    *warning persons* are called in ``sequence`` order and may cancel. ``pin_hash`` is the
    scrypt hash ``alarmrx pin-hash`` prints; ``factory_pin`` means the PIN is still ``0000``
    and must be changed before anything else.
    """

    id_code: str
    name: str
    role: Role
    sequence: int | None = None
    phone: str | None = None
    pin_hash: str | None = field(default=None, repr=False)
    factory_pin: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcedureSettings:
    """``[[accounts.card.procedures]]``: whom to alert for one type of alarm.

    ``alarm`` is the event's priority class; ``services`` the emergency services to alert
    (``police``, ``fire_brigade``, ``ambulance``, ``guard``; default: by alarm type, see
    ``dispatch.py``); ``contacts`` the ID codes of the
    warning persons to call, in order (default: every warning person by ``sequence``).
    """

    alarm: AlarmType
    services: tuple[str, ...] | None = None
    contacts: tuple[str, ...] | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CardSettings:
    """``[accounts.card]``: what the centre knows about the protected object."""

    object_name: str | None = None
    address: str | None = None
    installer: str | None = None
    instructions: str | None = None
    holdup_link: bool = False
    cancel_window_s: float = DEFAULT_CANCEL_WINDOW_S
    contacts: tuple[ContactSettings, ...] = ()
    procedures: tuple[ProcedureSettings, ...] = ()

    def contact(self, id_code: str) -> ContactSettings | None:
        """The contact with ``id_code``, if any."""
        return next((c for c in self.contacts if c.id_code == id_code), None)

    def procedure(self, alarm: str) -> ProcedureSettings | None:
        """The configured procedure for an alarm type, if any."""
        return next((p for p in self.procedures if p.alarm == alarm), None)
