"""Checking a receiver's reply to one frame.

A reply passes when it is a well-formed ``ACK`` frame echoing the frame's sequence and
account, and, for an encrypted frame, an ``*ACK`` that decrypts with the account's key and
carries a timestamp inside the window. Each failure has a short name for the counters.

Two steps, for the generator's sake: ``acknowledges`` recognises the replies alarmrx,
pysiaalarm and the stub send (the bytes of the plain ``ACK`` exactly; the ``*ACK``'s
framing, CRC and header exactly, its block decrypted and its timestamp tested) at a fraction
of ``parse_frame``'s cost. Whatever it does not recognise goes through ``parse_frame``,
which accepts the other valid forms and names what is wrong with the rest.
"""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from functools import lru_cache

from alarmrx.protocols import (
    REPLY_DECODERS,
    AccountPolicy,
    DC09Message,
    FrameHeader,
    ProtocolError,
    TimestampWindow,
    encode_frame,
    parse_frame,
)
from benchmarks.cipher import BLOCK, cipher_for
from benchmarks.frames import Outgoing

# Failure names that do not come from the reply's content.
TIMEOUT = "timeout"
CLOSED = "connection_closed"

_WINDOW = TimestampWindow()  # what alarmrx applies by default: 40 s past, 20 s future
_PAST, _FUTURE = _WINDOW.past.total_seconds(), _WINDOW.future.total_seconds()
_STAMP = re.compile(rb"([0-9]{2}):([0-9]{2}):([0-9]{2}),([0-9]{2})-([0-9]{2})-([0-9]{4})")
_BODY_START = 9  # LF, 4 CRC digits, 4 length digits


def check_reply(
    reply: bytes, sent: Outgoing, *, now: datetime, encrypted_acks: bool = True
) -> str | None:
    """None when ``reply`` acknowledges ``sent``; otherwise why not.

    ``encrypted_acks`` False accepts a plain ACK to an encrypted frame (the stub receiver
    does not encrypt; it only shows the harness's own ceiling).
    """
    if acknowledges(reply, sent, now=now.timestamp(), encrypted_acks=encrypted_acks):
        return None
    return diagnose(reply, sent, now=now, encrypted_acks=encrypted_acks)


def acknowledges(reply: bytes, sent: Outgoing, *, now: float, encrypted_acks: bool) -> bool:
    """True when ``reply`` is the usual ACK to ``sent``; False is no verdict, ask ``diagnose``.

    ``now`` is in seconds since the epoch.
    """
    if sent.key is not None and encrypted_acks:
        return _is_encrypted_ack(reply, sent, sent.key, now)
    return reply == encode_frame(f'"ACK"{sent.sequence}{sent.addressing}[]')


def _is_encrypted_ack(reply: bytes, sent: Outgoing, key: bytes, now: float) -> bool:
    head = f'"*ACK"{sent.sequence}{sent.addressing}['.encode("ascii")
    body = reply[_BODY_START:-1]
    if not body.startswith(head) or not body.isascii():
        return False
    if encode_frame(body.decode("ascii")) != reply:  # LF, CRC, length and CR as alarmrx's
        return False
    try:
        ciphertext = binascii.unhexlify(body[len(head) :])
    except binascii.Error:
        return False
    if not ciphertext or len(ciphertext) % BLOCK:
        return False
    return _timely(cipher_for(key).decrypt(ciphertext), now)


def _timely(cleartext: bytes, now: float) -> bool:
    """``pad|]_timestamp``, or ``pad]_timestamp`` without the separator (as pysiaalarm pads,
    with zeros), and nothing more; the timestamp inside the window."""
    close = cleartext.find(b"]")
    if close < 0 or cleartext.find(b"|") not in (-1, close - 1):
        return False  # no data block, or a "|" somewhere else
    if cleartext[close + 1 : close + 2] != b"_":
        return False
    stamp = _seconds(cleartext[close + 2 :])
    return stamp is not None and -_PAST <= stamp - now <= _FUTURE


@lru_cache(maxsize=64)
def _seconds(text: bytes) -> float | None:
    """``HH:MM:SS,MM-DD-YYYY`` (UTC) as seconds since the epoch; None if it is not one."""
    match = _STAMP.fullmatch(text)
    if match is None:
        return None
    hour, minute, second, month, day, year = map(int, match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    except ValueError:
        return None


def diagnose(
    reply: bytes, sent: Outgoing, *, now: datetime, encrypted_acks: bool = True
) -> str | None:
    """The full check, by ``parse_frame``: None when ``reply`` is a valid ACK to ``sent``."""
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
