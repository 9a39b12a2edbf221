"""``alarmrx decode [FRAME] [--key KEY]``: what a frame pasted from a log means.

The input is bytes: stdin is read as binary and the argument is turned back into the bytes
the shell received (``os.fsencode``), so binary CRCs, Latin-1 and UTF-8 text arrive intact.
Accepts the frame raw, or written with ``<LF>``/``<CR>``/``\\n``/``\\r``/``<0xNN>`` notation
(the journal's ``raw`` notation), with or without the LF … CR envelope. A panel's frame and a
receiver's reply (ACK, ``*ACK`` with ``--key``, NAK, DUH, RSP) both decode. Prints one JSON
object; exit 0 when the frame is accepted, 1 with ``{"reject": …, "detail": …}`` when it is
not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

from alarmrx.commands import CommandError, add_command
from alarmrx.protocols import (
    CORRUPT_REASONS,
    MESSAGE_DECODERS,
    REPLY_DECODERS,
    AccountPolicy,
    DC09Message,
    Event,
    KeyFormatError,
    ProtocolError,
    TimestampWindow,
    parse_frame,
    parse_key,
    reply_kind,
)
from alarmrx.receiver.body import event_body

_NOTATION = re.compile(rb"<LF>|<CR>|<0x([0-9A-Fa-f]{2})>|\\n|\\r", re.IGNORECASE)
_NOTATION_BYTES = {b"<lf>": b"\n", b"<cr>": b"\r", b"\\n": b"\n", b"\\r": b"\r"}
# A pasted frame is a panel's message or a receiver's reply.
_DECODERS = {**MESSAGE_DECODERS, **REPLY_DECODERS}


def register(sub: Any) -> None:
    """Add the ``decode`` sub-command."""
    parser = add_command(sub, "decode")
    parser.add_argument("frame", nargs="?", help="the frame; read from stdin when absent")
    parser.add_argument("--key", help="AES key: 32/48/64 hex digits or 16/24/32 characters")
    parser.add_argument(
        "--check-timestamp",
        action="store_true",
        help="apply the -40/+20 s timestamp window against this machine's clock",
    )
    parser.set_defaults(handler=run)


def _resolve(match: re.Match[bytes]) -> bytes:
    digits = match.group(1)
    if digits is not None:
        return bytes.fromhex(digits.decode("ascii"))
    return _NOTATION_BYTES[match.group(0).lower()]


def normalise(data: bytes) -> bytes:
    """Turn pasted bytes into a frame: notation resolved, envelope ensured.

    Only whitespace and one leading LF are taken off the front, so a binary CRC whose first
    byte is a space or a CR stays.
    """
    resolved = _NOTATION.sub(_resolve, data).lstrip(b" \t")
    core = resolved.removeprefix(b"\n").rstrip(b" \t\r\n")
    return b"\n" + core + b"\r"


def readings(data: bytes) -> list[bytes]:
    """The frames the pasted bytes may be: as given, then, when they are UTF-8 text holding
    characters up to U+00FF, one byte per character (a log that showed a binary CRC or
    Latin-1 text as characters, pasted in a UTF-8 terminal)."""
    frames = [normalise(data)]
    try:
        latin = data.decode("utf-8").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return frames
    return frames if latin == data else [*frames, normalise(latin)]


def run(args: argparse.Namespace) -> int:
    """Decode and print; exit 1 for a rejected frame."""
    data = os.fsencode(args.frame) if args.frame is not None else sys.stdin.buffer.read()
    try:
        key = parse_key(args.key) if args.key else None
    except KeyFormatError as err:
        raise CommandError(f"--key: {err}") from err
    window = TimestampWindow() if args.check_timestamp else None
    policy = AccountPolicy(key=key, window=window, check_plain_timestamp=args.check_timestamp)
    try:
        message = _parse(readings(data), policy)
    except ProtocolError as err:
        print(json.dumps({"reject": err.reason.value, "detail": err.detail}))
        return 1
    print(json.dumps(describe(message), ensure_ascii=False))
    return 0


def _parse(frames: list[bytes], policy: AccountPolicy) -> DC09Message:
    """The first reading that parses. A later reading is tried only when the first one is
    corrupt (framing, length, CRC); when none parses, the first reading's error stands."""
    now = datetime.now(UTC)

    def attempt(frame: bytes) -> DC09Message:
        return parse_frame(
            frame, accounts=lambda _header, _account: policy, now=now, decoders=_DECODERS
        )

    try:
        return attempt(frames[0])
    except ProtocolError as err:
        if err.reason not in CORRUPT_REASONS:
            raise
        for frame in frames[1:]:
            try:
                return attempt(frame)
            except ProtocolError:
                continue
        raise


def describe(message: DC09Message) -> dict[str, Any]:
    """The JSON shape of ``alarmrx decode`` (docs/protocol.md, "alarmrx decode").

    ``reply`` is what alarmrx answers the frame; null for a receiver's reply, which is not
    answered.
    """
    header = message.header
    is_reply = header.token in REPLY_DECODERS
    return {
        "token": header.token,
        "encrypted": header.encrypted,
        "sequence": header.sequence,
        "receiver": header.receiver,
        "line": header.line,
        "account": message.account,
        "timestamp": message.timestamp.isoformat() if message.timestamp else None,
        "xdata": [{"letter": x.letter, "value": x.value} for x in message.xdata],
        "events": [event_json(e) for e in message.events],
        "quirks": sorted(q.value for q in message.quirks),
        "reply": None if is_reply else reply_kind(message).value,
    }


_EVENT_KEYS = ("code", "category", "description", "address", "zone", "area", "user", "text")


def event_json(event: Event) -> dict[str, Any]:
    """One event as the journal and MQTT name its fields, narrowed; ``qualifier`` only for
    Contact ID."""
    body = event_body(event)
    out = {key: body[key] for key in _EVENT_KEYS}
    if event.qualifier is not None:
        out["qualifier"] = event.qualifier
    return out
