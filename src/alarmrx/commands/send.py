"""``alarmrx send``: a panel simulator for installers and integrators.

Sends one frame to a receiver over TCP or UDP and prints the reply as JSON:
``alarmrx send --to 127.0.0.1:12128 --account 1234 --sia 'Nri1/BA01'``. Exit 0 on ACK,
1 on NAK, DUH or no reply. Each send of an account takes the next sequence number
(``sequence.py``) unless ``--sequence`` gives one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import time
from datetime import UTC, datetime
from typing import Any

from alarmrx.commands import CommandError, add_command
from alarmrx.commands.sequence import LAST, following, state_file, take
from alarmrx.config.model import ListenAddress
from alarmrx.protocols import (
    REPLY_DECODERS,
    AccountPolicy,
    FrameHeader,
    Framer,
    KeyFormatError,
    ProtocolError,
    encode_message,
    parse_frame,
    parse_key,
)


def register(sub: Any) -> None:
    """Add the ``send`` sub-command."""
    parser = add_command(sub, "send")
    parser.add_argument("--to", required=True, help="receiver HOST:PORT")
    parser.add_argument("--udp", action="store_true", help="send over UDP (default TCP)")
    parser.add_argument("--account", required=True, help="the panel's account, verbatim")
    parser.add_argument("--key", help="AES key: 32/48/64 hex digits or 16/24/32 characters")
    parser.add_argument("--receiver", help="the R field (receiver number), omitted if unset")
    parser.add_argument("--line", default="0", help="the L field (account prefix), default 0")
    parser.add_argument(
        "--sequence", type=int, help="0-9999 (default: the account's last one plus one)"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--sia", metavar="DATA", help="SIA DCS data, e.g. 'Nri1/BA01'")
    group.add_argument("--cid", metavar="DATA", help="Contact ID data, e.g. '1130 01 003'")
    group.add_argument("--null", action="store_true", help="a NULL link test")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Build, send, wait for the reply, print."""
    try:
        address = ListenAddress.parse(args.to)
        key = parse_key(args.key) if args.key else None
    except (ValueError, KeyFormatError) as err:
        raise CommandError(str(err)) from err
    token, data = _payload(args)
    sequence = f"{_sequence(args.account, args.sequence):04d}"
    header = FrameHeader(
        token=token,
        encrypted=key is not None,
        sequence=sequence,
        receiver=args.receiver,
        line=args.line,
        account=args.account,
    )
    now = datetime.now(UTC)
    frame = encode_message(
        header=header,
        data=data,
        timestamp=now if key is not None or args.null else None,
        key=key,
        random_bytes=os.urandom,
    )
    started = time.monotonic()
    reply = _exchange(frame, address, udp=args.udp, timeout=args.timeout)
    elapsed_ms = round((time.monotonic() - started) * 1000, 1)
    result = _describe(frame, reply, key, elapsed_ms)
    print(json.dumps(result))
    return 0 if result["reply"] == "ACK" else 1


def _sequence(account: str, given: int | None) -> int:
    """``given``, else the account's next; remembered either way. Without a place to keep
    it, the number comes from the clock, with a warning."""
    if given is not None and not 0 <= given <= LAST:
        raise CommandError(f"--sequence must be 0 to {LAST}, not {given}")
    path = state_file()
    try:
        return take(path, account, given)
    except OSError as err:
        warning = f"warning: cannot keep the last sequence in {path}: {err}"
        print(f"{warning}; two sends within a second may be taken for one", file=sys.stderr)
        return given if given is not None else following(int(time.time()) % LAST)


def _payload(args: argparse.Namespace) -> tuple[str, str]:
    if args.null:
        return "NULL", ""
    if args.cid is not None:
        return "ADM-CID", f"#{args.account}|{args.cid}"
    data = args.sia
    if not data.startswith(("N", "O", "#", "|")):
        data = "N" + data
    if not data.startswith(("#", "|")):
        data = f"#{args.account}|{data}"
    return "SIA-DCS", data


def _exchange(frame: bytes, address: ListenAddress, *, udp: bool, timeout: float) -> bytes | None:
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(address.host, address.port, type=kind)
        family, _, _, _, sockaddr = infos[0]
        with socket.socket(family, kind) as sock:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            sock.sendall(frame)
            return _read_reply(sock, udp=udp)
    except TimeoutError:
        return None
    except OSError as err:
        raise CommandError(f"cannot reach {address}: {err}", status=1) from err


def _read_reply(sock: socket.socket, *, udp: bool) -> bytes | None:
    framer = Framer()
    while True:
        data = sock.recv(65536)
        if not data:
            return None
        framer.feed(data)
        frame = framer.next_frame()
        if frame is not None or udp:
            return frame


def _describe(frame: bytes, reply: bytes | None, key: bytes | None, ms: float) -> dict[str, Any]:
    out: dict[str, Any] = {"sent": _text(frame), "reply": None, "reply_frame": None, "ms": ms}
    if reply is None:
        out["reply"] = "none"
        return out
    out["reply_frame"] = _text(reply)
    policy = AccountPolicy(key=key, window=None)
    try:
        parsed = parse_frame(
            reply, accounts=lambda _h, _a: policy, now=datetime.now(UTC), decoders=REPLY_DECODERS
        )
    except ProtocolError as err:
        # The NAK's fixed form `"NAK"0000R0L0A0[]_ts` has an `A0` field no message has.
        token = _TOKEN_RE.search(reply)
        out["reply"] = token.group(1).decode() if token else "unreadable"
        if out["reply"] != "NAK":
            out["reply_error"] = err.detail
        return out
    out["reply"] = parsed.header.token
    if parsed.timestamp is not None:
        out["receiver_time"] = parsed.timestamp.isoformat()
    return out


_TOKEN_RE = re.compile(rb'"\*?([A-Z-]+)"')


def _text(frame: bytes) -> str:
    return frame.decode("latin-1").replace("\n", "<LF>").replace("\r", "<CR>")
