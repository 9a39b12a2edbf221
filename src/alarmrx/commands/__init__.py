"""Command-line commands. Each module has ``register(subparsers)`` setting ``handler``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class CommandError(Exception):
    """A failure to report as one line; ``status`` is the exit code."""

    def __init__(self, message: str, *, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _registry() -> list[Callable[[Any], None]]:
    from alarmrx.commands import (  # noqa: PLC0415 - keeps `alarmrx --help` import-light
        anchor,
        card,
        check,
        decode,
        evidence,
        journal,
        operate,
        report,
        response,
        run,
        send,
    )

    return [
        run.register,
        check.register,
        send.register,
        decode.register,
        journal.register,
        operate.register,
        report.register,
        evidence.register,
        anchor.register,
        response.register,
        card.register,
    ]


COMMANDS: list[Callable[[Any], None]] = _registry()

__all__ = ["COMMANDS", "CommandError"]
