"""The one entry point: ``alarmrx run | check | send | decode | journal …``.

Each command lives in ``alarmrx.commands.<module>`` (the table ``commands.COMMANDS``) and
registers its own sub-parser; only the chosen command's module is imported, so a command
starts without the imports of the others. Errors reach the user as one line on stderr and an
exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from alarmrx import __version__
from alarmrx.commands import COMMANDS, CommandError, add_command


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every command listed with its help, and ``command``'s module
    (only it) imported to add its commands' arguments and handlers."""
    parser = argparse.ArgumentParser(
        prog="alarmrx", description="SIA DC-09 alarm receiver (Contact ID, SIA DCS)."
    )
    parser.add_argument("--version", action="version", version=f"alarmrx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = COMMANDS[command].module if command in COMMANDS else None
    for name, entry in COMMANDS.items():
        if entry.module != chosen:
            add_command(sub, name, add_help=False)  # listed; its arguments are not read
    if chosen is not None:
        importlib.import_module(f"alarmrx.commands.{chosen}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    # Which command: --help, --version and a missing or unknown command end here.
    command = build_parser().parse_known_args(arguments)[0].command
    args = build_parser(command).parse_args(arguments)
    try:
        status: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit after the handler
    except CommandError as err:
        print(f"alarmrx {args.command}: {err}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``alarmrx check … | head``): say nothing more, as cat would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status
