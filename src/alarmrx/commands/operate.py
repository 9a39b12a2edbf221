"""Operator commands sent to the running daemon over its control socket:

``alarmrx verify --config F --account A --journal-seq N [--by operator|camera] [--note T]``
``alarmrx test-mode --config F --account A (--on --duration 4h | --off)``

Each prints the daemon's JSON reply; exit 0 when accepted, 1 when refused; a ``warning`` in
an accepted reply is also printed on stderr. The daemon journals every command, accepted or
refused.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from alarmrx.commands import CommandError, add_command

_DURATION = re.compile(r"^(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>[smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TEST_S = 7 * 86400


def register(sub: Any) -> None:
    """Add ``verify`` and ``test-mode``."""
    verify = add_command(sub, "verify")
    add_account_options(verify)
    verify.add_argument("--journal-seq", type=int, required=True, help="the alarm's record")
    verify.add_argument("--by", choices=("operator", "camera"), default="operator")
    verify.add_argument("--note", default=None, help="free text kept with the verification")
    verify.set_defaults(handler=handle_verify)
    test = add_command(sub, "test-mode")
    add_account_options(test)
    state = test.add_mutually_exclusive_group(required=True)
    state.add_argument("--on", action="store_true", help="start test mode")
    state.add_argument("--off", action="store_true", help="end test mode")
    test.add_argument("--duration", default="4h", help="e.g. 90m, 4h, 2d (default 4h)")
    test.set_defaults(handler=handle_test_mode)


def add_account_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--account``, which every operator command takes."""
    parser.add_argument("--config", required=True, type=Path, help="the daemon's TOML config")
    parser.add_argument("--account", required=True, help="the account, verbatim")


def duration_s(text: str) -> float:
    """``90m`` -> 5400.0; at most 7 days."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise CommandError(f"--duration {text!r}: write a number with s, m, h or d")
    seconds = float(match["n"]) * _UNIT_S[match["unit"]]
    if not 0 < seconds <= MAX_TEST_S:
        raise CommandError(f"--duration {text!r}: test mode lasts more than 0 s, at most 7 days")
    return seconds


def handle_verify(args: argparse.Namespace) -> int:
    """Send a verification."""
    return send_request(
        args.config,
        {
            "action": "verify",
            "account": args.account,
            "journal_seq": args.journal_seq,
            "by": args.by,
            "note": args.note,
        },
    )


def handle_test_mode(args: argparse.Namespace) -> int:
    """Start or end test mode."""
    request: dict[str, Any] = {"action": "test_mode", "account": args.account, "on": args.on}
    if args.on:
        request["duration_s"] = duration_s(args.duration)
    return send_request(args.config, request)


def send_request(config: Path, request: dict[str, Any]) -> int:
    """Send ``request`` to the daemon, print its reply as JSON (and any warning on
    stderr); exit status 0 when it was accepted, else 1."""
    reply = daemon_request(config, request)
    print(json.dumps(reply))
    if reply.get("warning"):
        print(f"warning: {reply['warning']}", file=sys.stderr)
    return 0 if reply.get("ok") else 1


def daemon_request(config: Path, request: dict[str, Any]) -> dict[str, Any]:
    """Send ``request`` to the daemon running ``config`` over its control socket; its reply.

    No key is read: the daemon holds them, and finding its socket needs none."""
    from alarmrx.config import ConfigError, Secrets, load_settings  # noqa: PLC0415
    from alarmrx.control import send_command, socket_path  # noqa: PLC0415

    try:
        settings = load_settings(config, secrets=Secrets.NONE)
    except ConfigError as err:
        raise CommandError(f"configuration refused:\n{err}", status=78) from err
    path = socket_path(settings.journal.path)
    try:
        return send_command(path, request)
    except (OSError, ValueError) as err:
        raise CommandError(f"no daemon answers on {path}: {err}", status=1) from err
