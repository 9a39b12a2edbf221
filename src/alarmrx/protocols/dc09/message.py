"""Typed values produced by the DC-09 parser. Frozen, slotted, and keeping the raw bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from alarmrx.protocols.fastinit import fast_init


class CRCStyle(StrEnum):
    """How the panel wrote its CRC; replies mirror it."""

    HEX = "hex"
    BINARY = "binary"  # 2 raw bytes (Lupusec, Jablotron, DSC/Trikdis)


class Quirk(StrEnum):
    """Deviations from DC-09 seen from real panels, accepted and counted."""

    BINARY_CRC = "binary_crc"
    CRC_INCLUDES_CR = "crc_includes_cr"
    LENGTH_INCLUDES_CR = "length_includes_cr"
    DECIMAL_LENGTH = "decimal_length"
    LOWERCASE_HEX = "lowercase_hex"
    EMPTY_LINE = "empty_line"
    MISSING_LINE = "missing_line"
    MISSING_ACCOUNT = "missing_account"
    NON_HEX_ACCOUNT = "non_hex_account"
    SHORT_ACCOUNT = "short_account"
    ACCOUNT_MISMATCH = "account_mismatch"
    TRAILING_BYTES = "trailing_bytes"
    NO_ENVELOPE = "no_envelope"  # no LF before / CR after the frame (OPAX, binary CRC)
    NULL_NONZERO_SEQUENCE = "null_nonzero_sequence"
    LONG_PAD = "long_pad"  # 16-31 pad bytes (DC-09-2026 style)
    NO_PAD_SEPARATOR = "no_pad_separator"
    SIA_NO_BLOCK_PREFIX = "sia_no_block_prefix"
    SIA_MISSING_SLASH = "sia_missing_slash"
    SIA_TRAILING_LETTERS = "sia_trailing_letters"
    SIA_SYSTEM_BLOCK = "sia_system_block"  # a digits-only DC-03 block, skipped
    SIA_MISSING_BLOCK_SEPARATOR = "sia_missing_block_separator"  # `…/CL40/Ori1/RX00`
    SIA_EMPTY_BLOCK = "sia_empty_block"  # `[]`: no events, a heartbeat
    DATA_ACCOUNT_WITHOUT_HASH = "data_account_without_hash"  # `[1234|…]`, no '#'
    CID_UNKNOWN_QUALIFIER = "cid_unknown_qualifier"


class Category(StrEnum):
    """Normalised event category, the same for SIA DCS and Contact ID."""

    ALARM = "alarm"
    RESTORE = "restore"
    TROUBLE = "trouble"
    SUPERVISORY = "supervisory"
    OPEN = "open"
    CLOSE = "close"
    BYPASS = "bypass"
    TEST = "test"
    ACCESS = "access"
    CANCEL = "cancel"
    PROGRAMMING = "programming"
    STATUS = "status"
    OTHER = "other"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class TimestampWindow:
    """The timestamp test: accept ``now - past <= t <= now + future`` (docs/protocol.md,
    "Timestamp")."""

    past: timedelta = timedelta(seconds=40)
    future: timedelta = timedelta(seconds=20)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountPolicy:
    """What the parser needs to know about one account; built by the caller from config.

    ``window`` None means the timestamp test is not applied (``alarmrx decode``).
    ``check_plain_timestamp`` applies it to plaintext frames carrying a timestamp too.
    ``clock_offset`` is added to the panel's time; ``panel_timezone`` names the zone a
    panel that sends local time uses (an IANA name), None for UTC.
    ``accept_unrecognised``: an intact frame whose token or data block is not understood is
    accepted with what could be decoded and marked ``unrecognised`` (docs/protocol.md,
    "Unrecognised payloads") instead of raising.
    """

    key: bytes | None = None
    require_encryption: bool = False
    window: TimestampWindow | None = field(default_factory=TimestampWindow)
    check_plain_timestamp: bool = False
    clock_offset: timedelta = timedelta(0)
    panel_timezone: str | None = None
    accept_unrecognised: bool = False


# gc=False: its fields are values that never refer back to it, so it is in no reference
# cycle and the garbage collector need not track it.
class FrameHeader(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The addressing part of a frame, kept verbatim for echoing in the reply. Built for
    every frame, so a Struct (built in C), like ``DC09Message``.

    ``receiver`` is the ``R`` field (spec "rcvr"), ``line`` the ``L`` field (spec "pref",
    account prefix), ``account`` the ``#acct`` field; each is None when absent.
    """

    token: str
    encrypted: bool
    sequence: str
    receiver: str | None
    line: str | None
    account: str | None
    crc_style: CRCStyle = CRCStyle.HEX


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event of a payload, normalised across SIA DCS and Contact ID.

    ``code`` is the SIA event code (two letters) or the Contact ID event code (three
    digits); ``qualifier`` is set for Contact ID only (1 new/open, 3 restore/close,
    6 status). ``area`` is SIA ``ri`` / Contact ID group, ``user`` SIA ``id`` or a
    user-addressed code's address. ``address`` is the code's address as sent (the SIA
    code's digits, the Contact ID ``CCC``), None when it had none: it keeps what the
    panel sent where ``zone``/``area``/``user`` had to choose between it and a modifier.
    """

    code: str
    category: Category
    description: str
    address: str | None = None
    zone: int | str | None = None
    area: int | str | None = None
    user: int | str | None = None
    text: str | None = None
    qualifier: int | None = None
    peripheral: str | None = None
    time: str | None = None
    date: str | None = None
    old: bool = False


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class XData:
    """One ``[x…]`` extended-data block: letter and value (docs/protocol.md, "Extended data").

    ``value`` is the text as decoded with ``encoding``: None when the block is plain ASCII
    (kept verbatim), else the codec that read its bytes (``TEXT_CODECS``).
    """

    letter: str
    value: str
    encoding: str | None = None


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Unrecognised:
    """Why an intact frame from a known account was accepted without being understood.

    ``reason`` is ``unsupported_token`` (a token we do not decode), ``payload`` (its data
    block) or ``framing`` (the content after the header is not ``data ] [x…] _timestamp``).
    """

    reason: str
    detail: str


# gc=False: its fields are values that never refer back to it, so it is in no reference
# cycle and the garbage collector need not track it.
class DC09Message(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An accepted frame.

    ``content`` is the cleartext after the header and pad (data, xdata, timestamp): two
    frames with the same account, sequence and content are the same message.
    ``timestamp`` is the panel's time converted to UTC (offset and zone applied).
    ``unrecognised`` is set when the account accepts frames it cannot decode and this is
    one: ``events`` then hold what could be decoded (often none).
    """

    header: FrameHeader
    data_account: str | None
    events: tuple[Event, ...]
    xdata: tuple[XData, ...]
    timestamp: datetime | None
    content: str
    quirks: frozenset[Quirk]
    raw: bytes
    unrecognised: Unrecognised | None = None

    @property
    def account(self) -> str | None:
        """The header account, else the data block's account."""
        return self.header.account if self.header.account is not None else self.data_account

    @property
    def is_null(self) -> bool:
        """A link test (NULL / *NULL)."""
        return self.header.token == "NULL"
