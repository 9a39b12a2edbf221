"""Ademco Contact ID (SIA DC-05) inside DC-09: ``[#acct|QXYZ GG CCC]`` (docs/protocol.md,
"Contact ID data blocks").

Q is the qualifier (1 new event or opening, 3 restore or closing, 6 status), XYZ the event
code, GG the group (area, ``00`` none), CCC the zone or, for user-addressed codes, the user.
Some panels leave out the ``#`` before the account (``[8362|1602 00 000]``, OPAX, PROSEC):
accepted as a quirk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from alarmrx.protocols.categories import contact_id_category
from alarmrx.protocols.codes import CONTACT_ID_CODES
from alarmrx.protocols.dc09.message import Event, Quirk
from alarmrx.protocols.errors import ProtocolError, RejectReason
from alarmrx.protocols.fastinit import fast_init

_CID_RE = re.compile(
    r"(?:#(?P<account>[^|]*)\|?|(?P<bare>[0-9A-Za-z]{1,16})\||\|)?"
    r"(?P<qualifier>[0-9])(?P<code>[0-9A-Fa-f]{3}) ?(?P<group>[0-9A-Fa-f]{2}) ?"
    r"(?P<address>[0-9A-Fa-f]{3})"
)
_KNOWN_QUALIFIERS = frozenset({1, 3, 6})
_NO_QUIRKS: frozenset[Quirk] = frozenset()
_UNKNOWN_QUALIFIER = frozenset({Quirk.CID_UNKNOWN_QUALIFIER})
_WITHOUT_HASH = frozenset({Quirk.DATA_ACCOUNT_WITHOUT_HASH})

# code -> (table category, description, whether the address is a user), once per table row.
_CODE_FACTS: dict[str, tuple[str | None, str, bool]] = {
    code: (info.category, info.description, info.address == "user")
    for code, info in CONTACT_ID_CODES.items()
}
_UNKNOWN_CODE: tuple[str | None, str, bool] = (None, "Unknown Contact ID code", False)


@fast_init
@dataclass(frozen=True, slots=True)
class Payload:
    """A decoded data block: its account (``#acct|``) and events."""

    account: str | None
    events: tuple[Event, ...]
    quirks: frozenset[Quirk]


def number(text: str) -> int | str | None:
    """Zone/area/user numbers as int when decimal, verbatim otherwise; 0 / empty is None."""
    if not text:
        return None
    if text.isdecimal():
        value = int(text)
        return value or None
    return text


def decode(data: str) -> Payload:
    """Decode a Contact ID data block. Raises ``ProtocolError`` (payload)."""
    match = _CID_RE.fullmatch(data)
    if match is None:
        msg = f"Contact ID data block {data[:40]!r} is not '#acct|QXYZ GG CCC'"
        raise ProtocolError(RejectReason.PAYLOAD, msg)
    account, bare, qualifier, code, group, address = match.groups()
    events, quirks = _event(qualifier, code, group, address)
    if bare is not None:
        return Payload(account=bare, events=events, quirks=quirks | _WITHOUT_HASH)
    return Payload(account=account, events=events, quirks=quirks)


# The same events come again and again from a panel and from panel to panel (tests, the
# same users opening and closing), so the event is kept per field text: one seen before
# costs a fraction of building it.
@lru_cache(maxsize=4096)
def _event(
    qualifier_digit: str, code: str, group: str, address: str
) -> tuple[tuple[Event], frozenset[Quirk]]:
    """The event of ``QXYZ GG CCC`` and its quirks."""
    qualifier = int(qualifier_digit)
    code = code.upper()
    table_category, description, is_user = _CODE_FACTS.get(code, _UNKNOWN_CODE)
    zone_or_user = number(address)
    event = Event(
        code=code,
        category=contact_id_category(qualifier, table_category),
        description=description,
        address=address,
        qualifier=qualifier,
        area=number(group),
        zone=None if is_user else zone_or_user,
        user=zone_or_user if is_user else None,
    )
    return (event,), _NO_QUIRKS if qualifier in _KNOWN_QUALIFIERS else _UNKNOWN_QUALIFIER


def clear_cache() -> None:
    """Forget every cached event (docs/performance.md, "Memory")."""
    _event.cache_clear()
