"""The canonical record encoding and the hash chain, defined once (docs/journal.md).

A record's hash is ``SHA-256(prev_hash as 32 raw bytes ‖ canonical_bytes(content))`` in
lowercase hex. ``canonical_bytes`` is the format tag and then the stored fields in a fixed
order, each written as ``0x00`` when null, or ``0x01``, its length as a 4-byte big-endian
unsigned integer and its bytes (text in UTF-8, integers as ASCII decimal, ``raw`` verbatim).
The fields are taken exactly as stored, so a third party recomputes the hash from the stored
text without re-encoding any JSON.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import MAXYEAR, UTC, datetime, timedelta
from typing import Any, Protocol, cast

import msgspec

FORMAT_TAG = "alarmrx.journal.v1"
GENESIS_HASH = "0" * 64
_NULL = b"\x00"
_PRESENT = b"\x01"
_TAG_FIELD = _PRESENT + len(FORMAT_TAG).to_bytes(4, "big") + FORMAT_TAG.encode("ascii")
_PRESENT_LENGTH = struct.Struct(">BI").pack  # 0x01 and a 4-byte big-endian length


class StoredFields(Protocol):
    """What ``canonical_tail`` reads: a ``Content``, or a new record encoded as it will be
    stored (``chain.Encoded``)."""

    @property
    def received_at(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def account(self) -> str | None: ...
    @property
    def peer(self) -> str | None: ...
    @property
    def transport(self) -> str | None: ...
    @property
    def reply(self) -> str | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def raw(self) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Content:
    """A record's hashed content, as stored: the fields in their canonical order."""

    journal_seq: int
    received_at: str
    kind: str
    account: str | None
    peer: str | None
    transport: str | None
    reply: str | None
    priority: int
    body: str
    raw: bytes


def canonical_bytes(content: Content) -> bytes:
    """The bytes the hash covers (module docstring; docs/journal.md, "Canonical encoding")."""
    return canonical_head(content.journal_seq) + canonical_tail(content)


def canonical_head(journal_seq: int) -> bytes:
    """The format tag and ``journal_seq``: the part that depends on the place in the chain."""
    return _TAG_FIELD + _field(str(journal_seq))


def canonical_tail(content: StoredFields) -> bytes:
    """Every field after ``journal_seq``, encodable before the record has its place."""
    try:
        return _text_tail(content)
    except AttributeError:  # bytes, read from a text column holding a BLOB: hashed as read
        return _any_tail(content)


def _text_tail(content: StoredFields) -> bytes:
    """``canonical_tail`` of fields that are text or null, as a new record's always are:
    written out field by field, the writer encodes every record."""
    at = content.received_at.encode("utf-8")
    kind = content.kind.encode("utf-8")
    priority = str(content.priority).encode("utf-8")
    body = content.body.encode("utf-8")
    raw = content.raw
    return b"".join(
        (
            _PRESENT_LENGTH(1, len(at)),
            at,
            _PRESENT_LENGTH(1, len(kind)),
            kind,
            _optional(content.account),
            _optional(content.peer),
            _optional(content.transport),
            _optional(content.reply),
            _PRESENT_LENGTH(1, len(priority)),
            priority,
            _PRESENT_LENGTH(1, len(body)),
            body,
            _PRESENT_LENGTH(1, len(raw)),
            raw,
        )
    )


def _optional(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode("utf-8")
    return _PRESENT_LENGTH(1, len(data)) + data


def _any_tail(content: StoredFields) -> bytes:
    texts = (
        content.received_at,
        content.kind,
        content.account,
        content.peer,
        content.transport,
        content.reply,
        str(content.priority),
        content.body,
    )
    parts = [_field(cast("str | bytes | None", value)) for value in texts]
    raw = content.raw
    parts += (_PRESENT_LENGTH(1, len(raw)), raw)
    return b"".join(parts)


def _field(value: str | bytes | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _PRESENT_LENGTH(1, len(data)) + data


def chain_hash(prev_hash: str, content: Content) -> str:
    """``SHA-256(prev_hash bytes ‖ canonical bytes)`` as 64 lowercase hex digits."""
    return link_hash(prev_hash, content.journal_seq, canonical_tail(content))


def link_hash(prev_hash: str, journal_seq: int, tail: bytes) -> str:
    """``chain_hash`` with the tail encoded beforehand (the writer's fast path)."""
    seq = b"%d" % journal_seq
    head = (bytes.fromhex(prev_hash), _TAG_FIELD, _PRESENT_LENGTH(1, len(seq)), seq, tail)
    return hashlib.sha256(b"".join(head)).hexdigest()  # canonical_head inlined


def _refuse(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# msgspec writes what json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# writes for the bodies alarmrx builds, many times faster (docs/performance.md); the hash
# covers the stored text, so a verifier never re-encodes it.
_BODY_ENCODER = msgspec.json.Encoder(order="sorted", enc_hook=_refuse)


def canonical_body(body: dict[str, Any]) -> str:
    """The body as stored: JSON with sorted keys, no spaces, UTF-8 text kept as is."""
    try:
        return _BODY_ENCODER.encode(body).decode("utf-8")
    except msgspec.EncodeError as err:
        raise ValueError(str(err)) from err


def format_received_at(moment: datetime) -> str:
    """UTC with microseconds, fixed width, so text order is time order:
    ``2025-03-01T12:00:00.000000+00:00``."""
    if moment.tzinfo is UTC:
        return _utc_seconds.text(moment)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_ONE_SECOND = timedelta(seconds=1)
_NO_SECOND = datetime(1, 1, 1, tzinfo=UTC)


class _SecondsText:
    """``format_received_at`` of a UTC time, with the text of its whole second kept: receipt
    times come in order, many to a second, and ``isoformat`` is most of the cost. One tuple,
    swapped whole, so a reader on another thread never sees a second with another's text."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # (start of the second, start of the next, "YYYY-MM-DDTHH:MM:SS")
        self._last = (_NO_SECOND, _NO_SECOND, "")

    def text(self, moment: datetime) -> str:
        start, end, second = self._last
        if not start <= moment < end:
            start = moment.replace(microsecond=0)
            second = start.isoformat()[:19]
            # In the last year a second's end may not exist: nothing is kept there.
            end = start + _ONE_SECOND if start.year < MAXYEAR else start
            self._last = (start, end, second)
        return f"{second}.{moment.microsecond:06d}+00:00"


_utc_seconds = _SecondsText()
