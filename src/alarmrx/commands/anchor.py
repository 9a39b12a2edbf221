"""``alarmrx anchor --config FILE``: the running daemon anchors its chain head now.

The daemon records an ANCHOR every five minutes while the journal moves
(docs/evidence.md), naming the head of every chain when the journal keeps several
(PostgreSQL); an evidence bundle exported before the next one cannot prove its latest
records against a published head (``evidence verify`` exits 3). This asks for one at once,
over the control socket, and prints it: exit 0, or 1 when the daemon refused or is not
running.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from alarmrx.commands import CommandError, add_command
from alarmrx.commands.operate import daemon_request


def register(sub: Any) -> None:
    """Add ``anchor``."""
    parser = add_command(sub, "anchor")
    parser.add_argument("--config", required=True, type=Path, help="the daemon's TOML config")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """One line naming the anchor record and the head it vouches for."""
    reply = daemon_request(args.config, {"action": "anchor"})
    if not reply.get("ok"):
        raise CommandError(str(reply.get("error", "refused")), status=1)
    from alarmrx.commands.evidence import anchor_line, heads_text  # noqa: PLC0415 - light --help

    if "heads" in reply:  # several chains: the anchor record's own place is not in the reply
        print(
            f"anchor record {reply['journal_seq']}: {heads_text(reply['heads'])} at {reply['at']}"
        )
    else:
        print(anchor_line(reply))
    return 0
