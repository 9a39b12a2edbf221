"""Checking a receiver's reply to one frame.

A reply passes when it is a well-formed ``ACK`` frame echoing the frame's sequence and
account, and, for an encrypted frame, an ``*ACK`` that decrypts with the account's key and
carries a timestamp inside the window. Each failure has a short name for the counters.
"""

from __future__ import annotations

from datetime import datetime

from alarmrx.protocols import (
    REPLY_DECODERS,
    AccountPolicy,
    DC09Message,
    FrameHeader,
    ProtocolError,
    parse_frame,
)
from benchmarks.frames import Outgoing

# Failure names that do not come from the reply's content.
TIMEOUT = "timeout"
CLOSED = "connection_closed"


def check_reply(
    reply: bytes, sent: Outgoing, *, now: datetime, encrypted_acks: bool = True
) -> str | None:
    """None when ``reply`` acknowledges ``sent``; otherwise why not.

    ``encrypted_acks`` False accepts a plain ACK to an encrypted frame (the stub receiver
    does not encrypt; it only shows the harness's own ceiling).
    """
    policy = AccountPolicy(key=sent.key)
    try:
        message = parse_frame(
            reply, accounts=lambda _h, _a: policy, now=now, decoders=REPLY_DECODERS
        )
    except ProtocolError as err:
        token = err.header.token if err.header is not None else None
        return f"reply_{token.lower()}" if token in {"NAK", "DUH"} else f"invalid_{err.reason}"
    return _mismatch(message, sent.header, encrypted_acks=encrypted_acks)


def _mismatch(message: DC09Message, sent: FrameHeader, *, encrypted_acks: bool) -> str | None:
    header = message.header
    if header.token != "ACK":
        return f"reply_{header.token.lower()}"
    if header.sequence != sent.sequence:
        return "sequence_mismatch"
    if header.account != sent.account:
        return "account_mismatch"
    if encrypted_acks and header.encrypted != sent.encrypted:
        return "encryption_mismatch"
    return None
