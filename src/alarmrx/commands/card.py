"""The account card's commands (docs/commands.md).

Sent to the running daemon over its control socket, as the operator (no PIN is asked; the
socket is open to the daemon's user only); each is journaled, accepted or refused:

``alarmrx cancel --config F --account A --journal-seq N --id-code C [--by NAME]``: contact C
cancelled the alarm (it then never counts as a false alarm);
``alarmrx mark-false --config F --account A --journal-seq N (--police-alerted |
--police-not-alerted) [--by NAME] [--note T]``: the alarm was false;
``alarmrx temporary-change --config F --account A --note T --duration 2d``: a note on the
card for less than a week;
``alarmrx close-alarm --config F --account A --journal-seq N [--by NAME] [--note T]``: the
operator closes an open alarm (it leaves the account state's open alarms);
``alarmrx change-pin --config F --account A --id-code C``: sets contact C's PIN (read from
stdin, or asked twice on a terminal), e.g. when it was forgotten.

And one that needs no daemon: ``alarmrx pin-hash`` prints the ``pin_hash`` of a PIN read
from stdin (or asked twice on a terminal), for ``[[accounts.card.contacts]]``. A PIN is
never taken from the command line, where other users could see it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any

from alarmrx.commands import CommandError, add_command
from alarmrx.commands.operate import add_account_options, duration_s, send_request


def register(sub: Any) -> None:
    """Add ``cancel``, ``mark-false``, ``close-alarm``, ``temporary-change``, ``change-pin``
    and ``pin-hash``."""
    cancel = add_command(sub, "cancel")
    add_account_options(cancel)
    cancel.add_argument("--journal-seq", type=int, required=True, help="the alarm's record")
    cancel.add_argument("--id-code", required=True, help="the contact who cancelled")
    cancel.add_argument("--by", default=None, help="the operator (default: your user name)")
    cancel.set_defaults(handler=handle_cancel)
    _register_mark_false(sub)
    close = add_command(sub, "close-alarm")
    add_account_options(close)
    close.add_argument("--journal-seq", type=int, required=True, help="the alarm's record")
    close.add_argument("--by", default=None, help="the operator (default: your user name)")
    close.add_argument("--note", default=None, help="free text kept with it")
    close.set_defaults(handler=handle_close_alarm)
    temporary = add_command(sub, "temporary-change")
    add_account_options(temporary)
    temporary.add_argument("--note", required=True, help="the change, for the operators")
    temporary.add_argument("--duration", required=True, help="e.g. 90m, 8h, 3d (under 7 days)")
    temporary.set_defaults(handler=handle_temporary_change)
    change = add_command(sub, "change-pin")
    add_account_options(change)
    change.add_argument("--id-code", required=True, help="the contact")
    change.set_defaults(handler=handle_change_pin)
    pin_hash = add_command(sub, "pin-hash")
    pin_hash.set_defaults(handler=handle_pin_hash)


def _register_mark_false(sub: Any) -> None:
    mark = add_command(sub, "mark-false")
    add_account_options(mark)
    mark.add_argument("--journal-seq", type=int, required=True, help="the alarm's record")
    police = mark.add_mutually_exclusive_group(required=True)
    police.add_argument(
        "--police-alerted",
        dest="police",
        action="store_true",
        help="the police were alerted: it counts towards a card",
    )
    police.add_argument("--police-not-alerted", dest="police", action="store_false")
    mark.add_argument("--by", default=None, help="the operator (default: your user name)")
    mark.add_argument("--note", default=None, help="free text kept with it")
    mark.set_defaults(handler=handle_mark_false)


def _operator(by: str | None) -> str:
    return by or os.environ.get("USER") or getpass.getuser()


def handle_cancel(args: argparse.Namespace) -> int:
    """Send a cancel on a contact's behalf."""
    return send_request(
        args.config,
        {
            "action": "cancel",
            "account": args.account,
            "journal_seq": args.journal_seq,
            "id_code": args.id_code,
            "by": _operator(args.by),
        },
    )


def handle_mark_false(args: argparse.Namespace) -> int:
    """Send a false-alarm marking."""
    return send_request(
        args.config,
        {
            "action": "mark_false",
            "account": args.account,
            "journal_seq": args.journal_seq,
            "police_alerted": args.police,
            "by": _operator(args.by),
            "note": args.note,
        },
    )


def handle_close_alarm(args: argparse.Namespace) -> int:
    """Send an operator's close of an open alarm."""
    request = {
        "action": "close_alarm",
        "account": args.account,
        "journal_seq": args.journal_seq,
        "by": _operator(args.by),
        "note": args.note,
    }
    return send_request(args.config, request)


def handle_temporary_change(args: argparse.Namespace) -> int:
    """Send a temporary change."""
    seconds = duration_s(args.duration)
    return send_request(
        args.config,
        {
            "action": "temporary_change",
            "account": args.account,
            "note": args.note,
            "duration_s": seconds,
        },
    )


def handle_change_pin(args: argparse.Namespace) -> int:
    """Send a new PIN for a contact (the daemon journals only its hash)."""
    return send_request(
        args.config,
        {
            "action": "change_pin",
            "account": args.account,
            "id_code": args.id_code,
            "new_pin": read_pin(),
        },
    )


def handle_pin_hash(args: argparse.Namespace) -> int:
    """Print ``scrypt$…`` for a PIN."""
    del args
    from alarmrx.rules.auth import check_new_pin, hash_pin  # noqa: PLC0415 - keeps --help light
    from alarmrx.rules.commands import CommandRefused  # noqa: PLC0415

    pin = read_pin()
    try:
        check_new_pin(pin)
    except CommandRefused as refused:
        raise CommandError(str(refused).replace("new_pin", "the PIN")) from None
    print(hash_pin(pin))
    return 0


def read_pin() -> str:
    """A PIN from one line of stdin, or asked twice without echo on a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    pin = getpass.getpass("PIN: ")
    if getpass.getpass("PIN again: ") != pin:
        raise CommandError("the two PINs differ")
    return pin
