"""What is wrong with a configuration file: every problem, each with file, line and key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, as ``file:line: dotted.key: message``; ``line`` None when unknown."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds all that were found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Invalid(ValueError):  # noqa: N818 - reads as "raise Invalid(...)", like voluptuous
    """A value is wrong. ``key`` names a sub-key (or path) when a table's builder finds it."""

    def __init__(self, message: str, *, key: str | KeyPath | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


class Reported(Exception):  # noqa: N818 - a control-flow signal, not an error to show
    """A nested check found problems and already reported them."""


def dotted(path: KeyPath) -> str:
    """``("accounts", 2, "key")`` -> ``accounts[2].key``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
