"""SIA DCS (SIA DC-03) data blocks inside DC-09 (docs/protocol.md, "SIA DCS data blocks").

``[#acct|Nri1/BA01/BA02|AFront door]``: blocks separated by ``|``; ``#`` the account, ``N``
(new) or ``O`` (old) event blocks of ``/``-separated packets, ``A`` free text. A packet is a
modifier (two lower-case letters and a value: ``ri`` area, ``id`` user, ``pi`` peripheral,
``ti`` time, ``da`` date, …) that applies to the codes after it, or an event code (two
upper-case letters), an address, and an optional ``^text^`` or ``*text``.

Real panels omit the ``N`` prefix, the ``/`` between modifier and code, the ``|`` before an
old block, the ``#`` before the account or the account itself, label a modifier with
``^name^``, and send an empty block as a heartbeat; each is accepted and reported as a quirk
(docs/protocol.md, "Vendor variants accepted"). A code not in the table is a valid event
of category ``unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from alarmrx.protocols.categories import sia_category
from alarmrx.protocols.codes import SIA_CODES, AddressKind
from alarmrx.protocols.contact_id import Payload, number
from alarmrx.protocols.dc09.message import Category, Event, Quirk
from alarmrx.protocols.errors import ProtocolError, RejectReason

# One packet, tried in this order:
# - a modifier: a lower-case pair (DC-03 §5 names ri id pi ai ti da ph lv va pt rg ss; others
#   are kept too) and its value, with an optional ``^name^`` label (Jablotron ``ri01^TOTAL^``),
#   dropped;
# - an event code with its address and text: ``^text^``, ``*text*`` (Lupusec), ``*'text'NM``
#   (Aritech); an unclosed ``*'NM`` (Ajax) carries none;
# - an ``N`` or ``O`` before a modifier: a new block opened without the '|'
#   (``…/CL40/Ori1/RX00``).
_PACKET_RE = re.compile(
    r"(?P<name>[a-z]{2})(?P<value>[0-9:.\-]*)(?:\^[^^]*\^?)?(?P<modifier_slash>/?)"
    r"|(?P<code>[A-Z]{2})(?P<address>[0-9:.\-]*)"
    r"(?:\*(?:'(?P<quoted>[^'/^|]*)'[A-Z]*|'[^/^|]*|(?P<starred>[^*/^|]*)\*?))?"
    r"(?:\^(?P<text>[^^]*)\^?)?(?P<slash>/?)"
    r"|(?P<block>[NO])(?=[a-z]{2})"
)
# A first block without '#' that names the account (`[alarm2|Nri1OP0001]`, Lupusec; OPAX).
_BARE_ACCOUNT_RE = re.compile(r"[0-9A-Za-z]{1,16}")
# An address that names neither a user nor an area is kept as the zone, the generic slot
# (DC-03 "condition", "point", "unused" addresses still carry the panel's number).
_NOT_ZONE = frozenset({"user", "area"})

# code -> (category, description, address kind), worked out once per table row.
_CODE_FACTS: dict[str, tuple[Category, str, AddressKind]] = {
    code: (sia_category(code, info.category), info.description, info.address)
    for code, info in SIA_CODES.items()
}
_UNKNOWN_CODE: tuple[Category, str, AddressKind] = (Category.UNKNOWN, "Unknown SIA code", "zone")


@dataclass(slots=True)
class _Block:
    """Modifiers in force while reading one event block, and the payload's quirks."""

    old: bool
    quirks: set[Quirk]
    glued: bool = False  # the previous packet was a code not closed by '/'
    modifiers: dict[str, str] = field(default_factory=dict)


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
    """Decode a SIA DCS data block. Raises ``ProtocolError`` (payload)."""
    if not data:
        # `[]`: an event report with nothing in it, taken as a heartbeat (docs/protocol.md).
        return Payload(account=None, events=(), quirks=frozenset({Quirk.SIA_EMPTY_BLOCK}))
    account: str | None = None
    events: list[Event] = []
    quirks: set[Quirk] = set()
    blocks = split_blocks(data)
    for index, block in enumerate(blocks):
        if index == 0 and (block.startswith("#") or (block == "" and len(blocks) > 1)):
            account = block[1:] if block else None
        elif index == 0 and len(blocks) > 1 and _is_bare_account(block):
            account = block
            quirks.add(Quirk.DATA_ACCOUNT_WITHOUT_HASH)
        elif block.startswith("A") and events:
            events[-1] = _with_text(events[-1], block[1:])
        elif block.isdigit():
            quirks.add(Quirk.SIA_SYSTEM_BLOCK)  # DC-03 link-layer block, e.g. AlphaVision `0|`
        elif block:
            block_events, block_quirks = _decode_event_block(block)
            events.extend(block_events)
            quirks |= block_quirks
    if not events:
        msg = f"SIA DCS data block {data[:40]!r} holds no event code"
        raise ProtocolError(RejectReason.PAYLOAD, msg)
    return Payload(account=account, events=tuple(events), quirks=frozenset(quirks))


def _is_bare_account(block: str) -> bool:
    """The first of several blocks, without '#', is the account when it reads as one: digits,
    or a name that is not an event block (an event block never starts with a digit)."""
    if not _BARE_ACCOUNT_RE.fullmatch(block):
        return False
    if block[0].isdigit():
        return True
    try:
        _decode_event_block(block)
    except ProtocolError:
        return True
    return False


def _with_text(event: Event, text: str) -> Event:
    return event if event.text else replace(event, text=text)


# Panels send the same event blocks again and again (tests, openings and closings by the same
# users, the same zones), and a block's events depend on its text alone, so they are kept:
# a block seen before costs a fraction of reading it. A bad block raises every time.
# Only short blocks are kept, so the cache stays small whatever text a panel sends
# (docs/performance.md, "Memory").
CACHED_BLOCK = 64  # characters


def _decode_event_block(block: str) -> tuple[tuple[Event, ...], frozenset[Quirk]]:
    if len(block) <= CACHED_BLOCK:
        return _decode_cached(block)
    return _decode_block(block)


@lru_cache(maxsize=4096)
def _decode_cached(block: str) -> tuple[tuple[Event, ...], frozenset[Quirk]]:
    return _decode_block(block)


def cached_blocks() -> int:
    """How many event blocks the cache holds (docs/performance.md, "Memory")."""
    return _decode_cached.cache_info().currsize


def clear_cache() -> None:
    """Forget every cached event block."""
    _decode_cached.cache_clear()


def _decode_block(block: str) -> tuple[tuple[Event, ...], frozenset[Quirk]]:
    quirks: set[Quirk] = set()
    state = _Block(old=block[0] == "O", quirks=quirks)
    if block[0] in "NO":
        body = block[1:]
    else:
        body = block
        quirks.add(Quirk.SIA_NO_BLOCK_PREFIX)
    events: list[Event] = []
    pos = 0
    while pos < len(body):
        pos = _read_packet(body, pos, state, events)
    return tuple(events), frozenset(quirks)


def _read_packet(body: str, pos: int, state: _Block, events: list[Event]) -> int:
    packet = _PACKET_RE.match(body, pos)
    if packet is None:
        msg = f"SIA DCS packet {body[pos : pos + 20]!r} is neither a modifier nor an event code"
        raise ProtocolError(RejectReason.PAYLOAD, msg)
    name, value, modifier_slash, code, address, quoted, starred, text, slash, block = (
        packet.groups()
    )
    end = packet.end()
    if block is not None:
        state.old = block == "O"
        state.modifiers.clear()
        state.glued = False
        state.quirks.add(Quirk.SIA_MISSING_BLOCK_SEPARATOR)
    elif name is not None:
        state.modifiers[name] = value
        state.glued = False
        if not modifier_slash and end < len(body):
            state.quirks.add(Quirk.SIA_MISSING_SLASH)
    elif state.glued and not address:
        # Bare letters glued to the previous address (`OP001NM`, Ajax): not a second code.
        state.quirks.add(Quirk.SIA_TRAILING_LETTERS)
        state.glued = not slash
    else:
        events.append(_event(code, address, _first_text(text, quoted, starred), state))
        state.glued = not slash
    return end


def _first_text(*texts: str | None) -> str | None:
    """The code's text (``^…^`` or ``*…``) without the padding of fixed-width fields."""
    for text in texts:
        if text and text.strip():
            return text.strip()
    return None


def _event(code: str, address: str, text: str | None, state: _Block) -> Event:
    """The modifiers in force: ``ri`` area, ``id`` user, ``pi`` peripheral, ``ti`` time,
    ``da`` date.

    A user- or area-addressed code takes its user or area from the ``id`` or ``ri`` modifier
    when one is in force (SATEL ``Nri2/id15/OP``), else from its own address; ``address``
    keeps the code's address as sent, so neither is lost when the two differ.
    """
    category, description, kind = _CODE_FACTS.get(code, _UNKNOWN_CODE)
    modifiers = state.modifiers
    value = number(address)
    user = number(modifiers.get("id", ""))
    area = number(modifiers.get("ri", ""))
    return Event(
        code=code,
        category=category,
        description=description,
        address=address or None,
        zone=None if kind in _NOT_ZONE else value,
        user=value if kind == "user" and user is None else user,
        area=value if kind == "area" and area is None else area,
        text=text,
        peripheral=modifiers.get("pi") or None,
        time=modifiers.get("ti") or None,
        date=modifiers.get("da") or None,
        old=state.old,
    )
