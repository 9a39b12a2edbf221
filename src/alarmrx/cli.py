"""The one entry point: ``alarmrx run | check | send | decode | journal …``.

Each command lives in ``alarmrx.commands.<name>`` and registers its own sub-parser. Errors
reach the user as one line on stderr and an exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from alarmrx import __version__
from alarmrx.commands import COMMANDS, CommandError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command registered."""
    parser = argparse.ArgumentParser(
        prog="alarmrx", description="SIA DC-09 alarm receiver (Contact ID, SIA DCS)."
    )
    parser.add_argument("--version", action="version", version=f"alarmrx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
