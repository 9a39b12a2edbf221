"""SIA DCS (SIA DC-03) data blocks inside DC-09 (standards.md §3).

``[#acct|Nri1/BA01/BA02|AFront door]``: blocks separated by ``|``; ``#`` the account, ``N``
(new) or ``O`` (old) event blocks of ``/``-separated packets, ``A`` free text. A packet is a
modifier (two lower-case letters and a value: ``ri`` area, ``id`` user, ``pi`` peripheral,
``ti`` time, ``da`` date, …) that applies to the codes after it, or an event code (two
upper-case letters), an address, and an optional ``^text^``.

Real panels omit the ``N`` prefix, the ``/`` between modifier and code, and the account; each
is accepted and reported as a quirk. A code not in the table is a valid event of category
``unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from alarmrx.protocols.categories import sia_category
from alarmrx.protocols.codes import SIA_CODES
from alarmrx.protocols.contact_id import Payload, number
from alarmrx.protocols.dc09.message import Event, Quirk
from alarmrx.protocols.errors import PayloadError

# Modifier packets (DC-03 §5): spec abbreviation -> the value's characters.
_MODIFIER_RE = re.compile(
    r"(?P<name>ri|id|pi|ai|ti|da|ph|lv|va|pt|rg|ss)(?P<value>[0-9:.\-]*)(?P<slash>/?)"
)
_CODE_RE = re.compile(
    r"(?P<code>[A-Z]{2})(?P<address>[0-9:.\-]*)(?:\*[^/^|]*)?(?:\^(?P<text>[^^]*)\^?)?(?P<slash>/?)"
)
# An address that names neither a user nor an area is kept as the zone, the generic slot
# (DC-03 "condition", "point", "unused" addresses still carry the panel's number).
_NOT_ZONE = frozenset({"user", "area"})
_MODIFIER_FIELD = {"ri": "area", "id": "user", "pi": "peripheral", "ti": "time", "da": "date"}


@dataclass(slots=True)
class _Block:
    """Modifiers in force while reading one event block."""

    old: bool
    glued: bool = False  # the previous packet was a code not closed by '/'
    modifiers: dict[str, str] = field(default_factory=dict)
    quirks: set[Quirk] = field(default_factory=set)


def split_blocks(data: str) -> list[str]:
    """Split on ``|`` outside ``^text^``."""
    if "^" not in data:
        return data.split("|")  # the common case, without a loop in Python
    blocks, start, in_text = [], 0, False
    for i, char in enumerate(data):
        if char == "^":
            in_text = not in_text
        elif char == "|" and not in_text:
            blocks.append(data[start:i])
            start = i + 1
    blocks.append(data[start:])
    return blocks


def decode(data: str) -> Payload:
    """Decode a SIA DCS data block. Raises ``PayloadError``."""
    account: str | None = None
    events: list[Event] = []
    quirks: set[Quirk] = set()
    for index, block in enumerate(split_blocks(data)):
        if index == 0 and (block.startswith("#") or (block == "" and "|" in data)):
            account = block[1:] if block else None
        elif block.startswith("A") and events:
            events[-1] = _with_text(events[-1], block[1:])
        elif block.isdigit():
            quirks.add(Quirk.SIA_SYSTEM_BLOCK)  # DC-03 link-layer block, e.g. AlphaVision `0|`
        elif block:
            events.extend(_decode_event_block(block, quirks))
    if not events:
        msg = f"SIA DCS data block {data[:40]!r} holds no event code"
        raise PayloadError(msg)
    return Payload(account=account, events=tuple(events), quirks=frozenset(quirks))


def _with_text(event: Event, text: str) -> Event:
    return event if event.text else replace(event, text=text)


def _decode_event_block(block: str, quirks: set[Quirk]) -> list[Event]:
    state = _Block(old=block[0] == "O")
    if block[0] in "NO":
        body = block[1:]
    else:
        body = block
        quirks.add(Quirk.SIA_NO_BLOCK_PREFIX)
    events: list[Event] = []
    pos = 0
    while pos < len(body):
        pos = _read_packet(body, pos, state, events)
    quirks |= state.quirks
    return events


def _read_packet(body: str, pos: int, state: _Block, events: list[Event]) -> int:
    if modifier := _MODIFIER_RE.match(body, pos):
        state.modifiers[modifier["name"]] = modifier["value"]
        state.glued = False
        if not modifier["slash"] and modifier.end() < len(body):
            state.quirks.add(Quirk.SIA_MISSING_SLASH)
        return modifier.end()
    if code := _CODE_RE.match(body, pos):
        if state.glued and not code["address"]:
            # Bare letters glued to the previous address (`OP001NM`, Ajax): not a second code.
            state.quirks.add(Quirk.SIA_TRAILING_LETTERS)
        else:
            events.append(_event(code["code"], code["address"], code["text"], state))
        state.glued = not code["slash"]
        return code.end()
    msg = f"SIA DCS packet {body[pos : pos + 20]!r} is neither a modifier nor an event code"
    raise PayloadError(msg)


def _event(code: str, address: str, text: str | None, state: _Block) -> Event:
    info = SIA_CODES.get(code)
    kind = info.address if info else "zone"
    mods = {_MODIFIER_FIELD[k]: v for k, v in state.modifiers.items() if k in _MODIFIER_FIELD}
    value = number(address)
    area = number(mods.get("area", ""))
    user = number(mods.get("user", ""))
    return Event(
        code=code,
        category=sia_category(code, info.category if info else None),
        description=info.description if info else "Unknown SIA code",
        zone=None if kind in _NOT_ZONE else value,
        user=value if kind == "user" else user,
        area=value if kind == "area" else area,
        text=text.strip() if text else None,
        peripheral=mods.get("peripheral") or None,
        time=mods.get("time") or None,
        date=mods.get("date") or None,
        old=state.old,
    )
