"""Every way ``protocols/`` reports bad input, and the one table that maps it to a reply.

``RejectReason`` is closed: its value is the log field, the metric label and (through
``REPLY_FOR``) the wire reply. Anything other than a ``ProtocolError`` escaping the parser
is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from alarmrx.protocols.dc09.message import FrameHeader


class Reply(StrEnum):
    """The response a receiver sends (docs/protocol.md, "Replies")."""

    ACK = "ACK"
    NAK = "NAK"
    DUH = "DUH"
    RSP = "RSP"
    NONE = "none"


class RejectReason(StrEnum):
    """Why a frame was not accepted. Value = log field = metric label."""

    FRAMING = "framing"
    FRAME_TOO_LONG = "frame_too_long"
    LENGTH = "length"
    CRC = "crc"
    UNKNOWN_ACCOUNT = "unknown_account"
    NO_KEY = "no_key"
    ENCRYPTION_REQUIRED = "encryption_required"
    DECRYPT = "decrypt"
    TIMESTAMP = "timestamp"
    UNSUPPORTED_TOKEN = "unsupported_token"
    PAYLOAD = "payload"


REPLY_FOR: Mapping[RejectReason, Reply] = MappingProxyType(
    {
        # DC-09-2007 Annex C.2.3.5: a frame whose CRC or framing is wrong gets no response.
        RejectReason.FRAMING: Reply.NONE,
        RejectReason.FRAME_TOO_LONG: Reply.NONE,
        RejectReason.LENGTH: Reply.NONE,
        RejectReason.CRC: Reply.NONE,
        # The frame is intact but we cannot serve it: DUH (DC-09-2013 §5.5.3.3).
        RejectReason.UNKNOWN_ACCOUNT: Reply.DUH,
        RejectReason.NO_KEY: Reply.DUH,
        RejectReason.ENCRYPTION_REQUIRED: Reply.DUH,
        RejectReason.DECRYPT: Reply.DUH,
        RejectReason.UNSUPPORTED_TOKEN: Reply.DUH,
        RejectReason.PAYLOAD: Reply.DUH,
        # Timestamp test failed: NAK carrying the receiver's time (DC-09-2013 §5.5.3.2).
        RejectReason.TIMESTAMP: Reply.NAK,
    }
)

# Reasons that, with the `nak_on_corrupt` option, get a NAK instead of silence, for panels
# that loop on a missing reply.
CORRUPT_REASONS = frozenset(
    {RejectReason.FRAMING, RejectReason.LENGTH, RejectReason.CRC, RejectReason.FRAME_TOO_LONG}
)


class ProtocolError(Exception):
    """Base of every rejection. ``header`` is set once the header parsed, for echoing."""

    reason: ClassVar[RejectReason]

    def __init__(self, detail: str, *, header: FrameHeader | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.header = header

    @property
    def reply(self) -> Reply:
        """The reply this rejection calls for."""
        return REPLY_FOR[self.reason]


class FramingError(ProtocolError):
    reason = RejectReason.FRAMING


class FrameTooLongError(ProtocolError):
    reason = RejectReason.FRAME_TOO_LONG


class LengthMismatchError(ProtocolError):
    reason = RejectReason.LENGTH


class CRCMismatchError(ProtocolError):
    reason = RejectReason.CRC


class UnknownAccountError(ProtocolError):
    reason = RejectReason.UNKNOWN_ACCOUNT


class NoKeyError(ProtocolError):
    reason = RejectReason.NO_KEY


class EncryptionRequiredError(ProtocolError):
    reason = RejectReason.ENCRYPTION_REQUIRED


class DecryptError(ProtocolError):
    reason = RejectReason.DECRYPT


class TimestampError(ProtocolError):
    reason = RejectReason.TIMESTAMP


class UnsupportedTokenError(ProtocolError):
    reason = RejectReason.UNSUPPORTED_TOKEN


class PayloadError(ProtocolError):
    reason = RejectReason.PAYLOAD
