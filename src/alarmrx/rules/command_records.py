"""Reading the COMMAND records the rules act on (``commands.py`` writes them)."""

from __future__ import annotations

from alarmrx.journal import bodies
from alarmrx.journal.bodies import CommandBody
from alarmrx.journal.records import Record


def accepted(record: Record) -> CommandBody | None:
    """The typed body of an accepted command's record; None for a refused command or a
    record of another kind."""
    body = bodies.command(record)
    return body if body is not None and body.accepted_action is not None else None


def accepted_action(record: Record) -> str | None:
    """The action of an accepted command's record; None for a refused command."""
    body = bodies.command(record)
    return body.accepted_action if body is not None else None
