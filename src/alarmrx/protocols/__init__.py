"""Sans-IO protocol core: bytes and explicit parameters in, typed values or errors out.

Nothing here imports asyncio, sockets, logging or reads a clock; the receiver and the tools
pass ``now`` and a random source in.
"""

from alarmrx.protocols.dc09.crypto import KeyFormatError, parse_key
from alarmrx.protocols.dc09.message import (
    AccountPolicy,
    Category,
    CRCStyle,
    DC09Message,
    Event,
    FrameHeader,
    Quirk,
    TimestampWindow,
    Unrecognised,
    XData,
)
from alarmrx.protocols.dc09.parse import (
    MESSAGE_DECODERS,
    REPLY_DECODERS,
    AccountLookup,
    parse_frame,
)
from alarmrx.protocols.dc09.reply import (
    encode_ack,
    encode_duh,
    encode_frame,
    encode_message,
    encode_nak,
    format_timestamp,
    reply_kind,
)
from alarmrx.protocols.errors import (
    CORRUPT_REASONS,
    REPLY_FOR,
    ProtocolError,
    RejectReason,
    Reply,
)
from alarmrx.protocols.framing import Framer

__all__ = [
    "AccountLookup",
    "AccountPolicy",
    "Category",
    "CRCStyle",
    "DC09Message",
    "Event",
    "FrameHeader",
    "Quirk",
    "TimestampWindow",
    "Unrecognised",
    "XData",
    "KeyFormatError",
    "parse_key",
    "MESSAGE_DECODERS",
    "REPLY_DECODERS",
    "parse_frame",
    "encode_ack",
    "encode_duh",
    "encode_frame",
    "encode_message",
    "encode_nak",
    "format_timestamp",
    "reply_kind",
    "CORRUPT_REASONS",
    "REPLY_FOR",
    "ProtocolError",
    "RejectReason",
    "Reply",
    "Framer",
]
