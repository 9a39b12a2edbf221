"""Commands an operator sends to the running daemon while handling a site (over the control
socket, like ``alarmrx verify``); each is journaled, accepted or refused:

``alarmrx overtime --config F --account A --until T``: the premises stay open until T
(docs/schedules.md);
``alarmrx alerted --config F --account A [--journal-seq N] [--who W] [--note T] [--at T]``
and ``alarmrx guard-arrived …`` (same options): a step of an alarm's response, for the
evidence export (docs/evidence.md). ``--journal-seq`` names the alarm's record (default: the
account's latest alarm); ``--at`` when it happened, if not now.
"""

from __future__ import annotations

import argparse
from typing import Any

from alarmrx.commands import add_command
from alarmrx.commands.operate import add_account_options, send_request
from alarmrx.commands.report import moment


def register(sub: Any) -> None:
    """Add ``overtime``, ``alerted`` and ``guard-arrived``."""
    overtime = add_command(sub, "overtime")
    add_account_options(overtime)
    overtime.add_argument(
        "--until", required=True, type=moment, help="ISO 8601 time (with a zone, else UTC)"
    )
    overtime.set_defaults(handler=handle_overtime)
    for name, action in (("alerted", "alerted"), ("guard-arrived", "guard_arrived")):
        parser = add_command(sub, name)
        add_account_options(parser)
        parser.add_argument("--journal-seq", type=int, help="the alarm's record")
        parser.add_argument("--who", help="who was alerted, or which guard")
        parser.add_argument("--note", help="free text kept with it")
        parser.add_argument("--at", type=moment, help="when it happened, if not now")
        parser.set_defaults(handler=handle_response, action_name=action)


def handle_overtime(args: argparse.Namespace) -> int:
    """Send an overtime."""
    return send_request(
        args.config,
        {"action": "overtime", "account": args.account, "until": args.until.isoformat()},
    )


def handle_response(args: argparse.Namespace) -> int:
    """Send an ``alerted`` or ``guard_arrived``."""
    request: dict[str, Any] = {"action": args.action_name, "account": args.account}
    for key in ("journal_seq", "who", "note"):
        if getattr(args, key) is not None:
            request[key] = getattr(args, key)
    if args.at is not None:
        request["at"] = args.at.isoformat()
    return send_request(args.config, request)
