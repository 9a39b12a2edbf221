"""Every way ``protocols/`` reports bad input, and the one table that maps it to a reply.

``RejectReason`` is closed: its value is the log field, the metric label and (through
``REPLY_FOR``) the wire reply. The parser and the framer raise one ``ProtocolError``
carrying its reason; anything else escaping them is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

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

    @property
    def reply(self) -> Reply:
        """The reply this reason calls for."""
        return REPLY_FOR[self]


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

# The reasons answered with silence: a corrupt frame. With the `nak_on_corrupt` option they
# get a NAK instead, for panels that loop on a missing reply.
CORRUPT_REASONS = frozenset(reason for reason, reply in REPLY_FOR.items() if reply is Reply.NONE)


class ProtocolError(Exception):
    """Every rejection: its ``reason`` (which decides the reply) and a ``detail`` for the log.
    ``header`` is set once the header parsed, for echoing."""

    def __init__(
        self, reason: RejectReason, detail: str, *, header: FrameHeader | None = None
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.header = header

    @property
    def reply(self) -> Reply:
        """The reply this rejection calls for."""
        return self.reason.reply
