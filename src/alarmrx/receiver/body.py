"""The journal body of an accepted message: everything decoded, JSON-able."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from alarmrx.protocols import Category, DC09Message, Event, Quirk, XData

# Enum -> its value as plain text, by table: ``.value`` is a Python-level property, and the
# body of every message reads several of them.
_CATEGORY_TEXT = {category: category.value for category in Category}
_QUIRK_TEXT = {quirk: quirk.value for quirk in Quirk}


def event_body(event: Event) -> dict[str, Any]:
    """One event as stored and published."""
    return {
        "code": event.code,
        "category": _CATEGORY_TEXT[event.category],
        "description": event.description,
        "address": event.address,
        "zone": event.zone,
        "area": event.area,
        "user": event.user,
        "text": event.text,
        "qualifier": event.qualifier,
        "peripheral": event.peripheral,
        "time": event.time,
        "date": event.date,
        "old": event.old,
    }


def xdata_body(xdata: XData) -> dict[str, Any]:
    """One ``[x…]`` block; ``encoding`` only when its text was not plain ASCII."""
    body: dict[str, Any] = {"letter": xdata.letter, "value": xdata.value}
    if xdata.encoding is not None:
        body["encoding"] = xdata.encoding
    return body


def message_body(message: DC09Message, clock: dict[str, Any]) -> dict[str, Any]:
    """The decoded message; ``clock`` records whether the system clock was synchronised.
    ``unrecognised`` (reason, detail) is present only for a frame accepted without being
    understood; its raw bytes are the record's ``raw``."""
    header = message.header
    body = {
        "token": header.token,
        "encrypted": header.encrypted,
        "sequence": header.sequence,
        "receiver": header.receiver,
        "line": header.line,
        "header_account": header.account,
        "data_account": message.data_account,
        "panel_time": _panel_time(message.timestamp),
        "xdata": list(map(xdata_body, message.xdata)) if message.xdata else [],
        "events": list(map(event_body, message.events)),
        "quirks": sorted(map(_QUIRK_TEXT.__getitem__, message.quirks)) if message.quirks else [],
        "clock": clock,
    }
    unrecognised = message.unrecognised
    if unrecognised is not None:
        body["unrecognised"] = {"reason": unrecognised.reason, "detail": unrecognised.detail}
    return body


def _panel_time(timestamp: datetime | None) -> str | None:
    """The panel's time as ISO 8601 text."""
    if timestamp is None:
        return None
    if timestamp.tzinfo is UTC:  # as the parser gives it: no offset to tell apart
        return _utc_iso(timestamp)
    return _iso(timestamp, timestamp.utcoffset())


# Panels send the same second many times over (the parser keeps the parsed time the same
# way), and its text is a good part of a body's cost. Keyed by the offset too: equal times
# with equal offsets have the same fields, so the same text.
@lru_cache(maxsize=1024)
def _iso(moment: datetime, offset: timedelta | None) -> str:
    del offset  # part of the cache key only
    return moment.isoformat()


@lru_cache(maxsize=1024)
def _utc_iso(moment: datetime) -> str:
    """``_iso`` of a time in ``UTC``: equal times there have equal fields."""
    return moment.isoformat()


def dedupe_key(message: DC09Message) -> bytes:
    """Same account, addressing, sequence and decrypted content = the same message (DC-09
    Annex C duplicate test): a retransmission is ACKed again and recorded once."""
    header = message.header
    text = "\0".join(
        (
            message.account or "",
            header.receiver or "",
            header.line or "",
            header.sequence or "",
            message.content or "",
        )
    )
    return hashlib.sha256(text.encode()).digest()
