"""Building frames: replies (ACK, *ACK, NAK, DUH, RSP) and outgoing messages.

All pure: the time and the random pad source are parameters. Addressing is echoed exactly
as received; a field the panel did not send is not invented (docs/protocol.md, "Replies").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache

from alarmrx.protocols.dc09 import crypto
from alarmrx.protocols.dc09.crc import crc16_arc
from alarmrx.protocols.dc09.message import CRCStyle, DC09Message, FrameHeader, XData
from alarmrx.protocols.errors import Reply


def format_timestamp(now: datetime) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC (§1.9)."""
    t = now if now.tzinfo is UTC else now.astimezone(UTC)  # the receiver's clock is UTC
    return _timestamp_text((t.hour, t.minute, t.second, t.month, t.day, t.year))


# Every reply within one second carries the same text: it is kept rather than formatted for
# each encrypted ACK.
@lru_cache(maxsize=4)
def _timestamp_text(fields: tuple[int, int, int, int, int, int]) -> str:
    # Fields by hand, in printf style: strftime and an f-string with format specs cost more.
    return "_%02d:%02d:%02d,%02d-%02d-%d" % fields  # noqa: UP031 - cheaper, see above


def reply_kind(message: DC09Message) -> Reply:
    """The positive reply an accepted message gets: RSP when the panel sent a key block
    ``[K…]`` (as pysiaalarm answers it, docs/protocol.md, "Replies"), ACK otherwise."""
    xdata = message.xdata
    return Reply.RSP if xdata and any(x.letter == "K" for x in xdata) else Reply.ACK


def encode_frame(body: str, crc_style: CRCStyle = CRCStyle.HEX) -> bytes:
    """Wrap a body (from the opening quote) in LF, CRC, length and CR."""
    return _frame(body.encode("ascii"), crc_style)


def _frame(data: bytes, crc_style: CRCStyle) -> bytes:
    crc = crc16_arc(data)
    if crc_style is CRCStyle.BINARY:
        return b"\n%b%04X%b\r" % (crc.to_bytes(2, "big"), len(data), data)
    return b"\n%04X%04X%b\r" % (crc, len(data), data)


def addressing(header: FrameHeader) -> str:
    """``R…L…#…`` exactly as the panel sent them."""
    receiver, line, account = header.receiver, header.line, header.account
    return (
        ("" if receiver is None else f"R{receiver}")
        + ("" if line is None else f"L{line}")
        + ("" if account is None else f"#{account}")
    )


def encode_ack(
    header: FrameHeader,
    *,
    now: datetime | None,
    key: bytes | None = None,
    random_bytes: crypto.RandomBytes | None = None,
    long_pad: bool = False,
    plain_timestamp: bool = False,
    token: str = "ACK",
) -> bytes:
    """ACK (or RSP) for an accepted message; ``*ACK`` with an encrypted block if it was.

    The encrypted block is ``pad | ] _timestamp`` (DC-09-2013 §5.5.3.1; docs/protocol.md,
    "Encryption"). ``now`` may be None for a plaintext ACK without ``plain_timestamp``, the
    one kind that carries no time (a caller need not read its clock for it).
    """
    address = addressing(header)
    if header.encrypted:
        if key is None or random_bytes is None:
            msg = "an encrypted ACK needs the account key and a random source"
            raise ValueError(msg)
        payload = b"|]" + format_timestamp(_required(now)).encode("ascii")
        block = crypto.seal(key, payload, random_bytes, long_pad=long_pad)
        head = f'"*{token}"{header.sequence}{address}['.encode("ascii")
        return _frame(head + block, header.crc_style)
    stamp = format_timestamp(_required(now)) if plain_timestamp else ""
    return encode_frame(f'"{token}"{header.sequence}{address}[]{stamp}', header.crc_style)


def _required(now: datetime | None) -> datetime:
    """The time an ACK that carries one is built with."""
    if now is None:
        msg = "this ACK carries the receiver's time: now is required"
        raise ValueError(msg)
    return now


def encode_nak(*, now: datetime, crc_style: CRCStyle = CRCStyle.HEX) -> bytes:
    """The timestamp-test NAK, never encrypted: ``"NAK"0000R0L0A0[]_<receiver time>``."""
    return encode_frame(f'"NAK"0000R0L0A0[]{format_timestamp(now)}', crc_style)


def encode_duh(header: FrameHeader) -> bytes:
    """DUH: the frame is intact but cannot be served; plaintext, addressing echoed."""
    return encode_frame(f'"DUH"{header.sequence}{addressing(header)}[]', header.crc_style)


def encode_message(
    *,
    header: FrameHeader,
    data: str,
    xdata: Iterable[XData] = (),
    timestamp: datetime | None = None,
    key: bytes | None = None,
    random_bytes: crypto.RandomBytes | None = None,
    long_pad: bool = False,
) -> bytes:
    """An outgoing frame as a panel sends it (the simulator and the benchmark use this)."""
    content = data + "]" + "".join(f"[{x.letter}{x.value}]" for x in xdata)
    if timestamp is not None:
        content += format_timestamp(timestamp)
    star = "*" if header.encrypted else ""
    if header.encrypted:
        if key is None or random_bytes is None:
            msg = "an encrypted frame needs a key and a random source"
            raise ValueError(msg)
        content = crypto.encrypt_block(key, content, random_bytes, long_pad=long_pad)
    body = f'"{star}{header.token}"{header.sequence}{addressing(header)}[{content}'
    return encode_frame(body, header.crc_style)
