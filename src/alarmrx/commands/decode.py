"""``alarmrx decode [FRAME] [--key KEY]``: what a frame pasted from a log means.

Accepts the frame raw, or written with ``<LF>``/``<CR>``/``\\n``/``\\r``/``<0x0A>`` notation,
with or without the LF … CR envelope. Prints one JSON object; exit 0 when the frame is
accepted, 1 with ``{"reject": …, "detail": …}`` when it is not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

from alarmrx.commands import CommandError
from alarmrx.protocols import (
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

_NOTATION = re.compile(r"<LF>|<CR>|<0x0[AaDd]>|\\n|\\r", re.IGNORECASE)
_NOTATION_BYTES = {"<lf>": "\n", "<cr>": "\r", "<0x0a>": "\n", "<0x0d>": "\r",
                   "\\n": "\n", "\\r": "\r"}  # fmt: skip


def register(sub: Any) -> None:
    """Add the ``decode`` sub-command."""
    parser = sub.add_parser("decode", help="decode one frame given as argument or on stdin")
    parser.add_argument("frame", nargs="?", help="the frame; read from stdin when absent")
    parser.add_argument("--key", help="AES key: 32/48/64 hex digits or 16/24/32 characters")
    parser.add_argument(
        "--check-timestamp",
        action="store_true",
        help="apply the -40/+20 s timestamp window against this machine's clock",
    )
    parser.set_defaults(handler=run)


def normalise(text: str) -> bytes:
    """Turn a pasted frame into its wire bytes: notation resolved, envelope ensured."""
    resolved = _NOTATION.sub(lambda m: _NOTATION_BYTES[m.group(0).lower()], text)
    core = resolved.strip(" \t\r\n")
    return ("\n" + core + "\r").encode("latin-1")


def run(args: argparse.Namespace) -> int:
    """Decode and print; exit 1 for a rejected frame."""
    text = args.frame if args.frame is not None else sys.stdin.read()
    try:
        key = parse_key(args.key) if args.key else None
    except KeyFormatError as err:
        raise CommandError(f"--key: {err}") from err
    try:
        frame = normalise(text)
    except UnicodeEncodeError as err:
        raise CommandError("the frame holds characters that are not bytes") from err
    window = TimestampWindow() if args.check_timestamp else None
    policy = AccountPolicy(key=key, window=window, check_plain_timestamp=args.check_timestamp)
    try:
        message = parse_frame(
            frame, accounts=lambda _header, _account: policy, now=datetime.now(UTC)
        )
    except ProtocolError as err:
        print(json.dumps({"reject": err.reason.value, "detail": err.detail}))
        return 1
    print(json.dumps(describe(message), ensure_ascii=False))
    return 0


def describe(message: DC09Message) -> dict[str, Any]:
    """The JSON shape of ``alarmrx decode`` (DESIGN.md, Interfaces)."""
    header = message.header
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
        "reply": reply_kind(message).value,
    }


_EVENT_KEYS = ("code", "category", "zone", "area", "user", "text")


def event_json(event: Event) -> dict[str, Any]:
    """One event as DESIGN.md lists it (the journal's event shape, narrowed); ``qualifier``
    only for Contact ID."""
    body = event_body(event)
    out = {key: body[key] for key in _EVENT_KEYS}
    if event.qualifier is not None:
        out["qualifier"] = event.qualifier
    return out
