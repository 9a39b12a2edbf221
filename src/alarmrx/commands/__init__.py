"""Command-line commands: every command's name, the module that adds it, its one-line help.

``alarmrx`` imports only the chosen command's module (``alarmrx.commands.<module>``), whose
``register(subparsers)`` adds its commands with ``add_command`` and sets ``handler``; the
others are listed by name and help alone, so ``alarmrx --help`` imports none of them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


class CommandError(Exception):
    """A failure to report as one line; ``status`` is the exit code."""

    def __init__(self, message: str, *, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Command:
    """Where a command lives and what ``alarmrx --help`` says of it."""

    module: str  # under alarmrx.commands
    help: str


COMMANDS: dict[str, Command] = {  # in the order of ``alarmrx --help``
    "run": Command("run", "run the receiver daemon"),
    "check": Command("check", "validate a configuration file and its keys"),
    "send": Command("send", "send one frame to a receiver, print its reply"),
    "decode": Command("decode", "decode one frame given as argument or on stdin"),
    "journal": Command("journal", "verify, query, prune or back up the journal"),
    "verify": Command("operate", "verify an alarm (operator or camera)"),
    "test-mode": Command("operate", "put an account in test (at most 7 days) or end it"),
    "report": Command("report", "reports from the journal (open/close)"),
    "evidence": Command("evidence", "export or verify insurance evidence"),
    "anchor": Command("anchor", "anchor the journal's chain head now (daemon)"),
    "overtime": Command("response", "keep an account's premises open until a time"),
    "alerted": Command("response", "record that someone was alerted"),
    "guard-arrived": Command("response", "record the guard's arrival"),
    "cancel": Command("card", "a contact cancelled an alarm (operator)"),
    "mark-false": Command("card", "mark an alarm false (operator)"),
    "close-alarm": Command("card", "close an open alarm (operator)"),
    "temporary-change": Command("card", "a note on the account card, < 1 week"),
    "change-pin": Command("card", "set a contact's PIN (read from stdin or asked)"),
    "pin-hash": Command("card", "print the pin_hash of a PIN (stdin or asked)"),
}


def add_command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """The sub-parser of command ``name``, with its help from ``COMMANDS``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=COMMANDS[name].help, **kwargs)
    return parser


__all__ = ["COMMANDS", "Command", "CommandError", "add_command"]
