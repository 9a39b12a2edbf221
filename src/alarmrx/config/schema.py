"""The validator's vocabulary: a ``Table`` of ``Option``s, each with a ``Check``.

A table is validated key by key; every problem is reported (with file, line and dotted key)
and validation goes on, so one run shows them all. Adding a section or a nested table is a
model dataclass, a ``Table`` listing its options, and one ``Option`` pointing at it.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from alarmrx.config.lines import LineIndex
from alarmrx.config.problems import Invalid, KeyPath, Problem, Reported, dotted


class Secrets(Enum):
    """Which secrets (keys, the broker password) a load reads from files and credentials.

    ``ALL``: every one; a credential without ``$CREDENTIALS_DIRECTORY`` is a problem (the
    daemon). ``AVAILABLE``: credentials only when a credentials directory is given, else they
    are noted as not read (``alarmrx check`` in an operator's shell). ``NONE``: none from
    files or credentials, only noted (commands that read the journal or talk to the daemon).
    Inline secrets are always checked: they are in the file itself.
    """

    ALL = "all"
    AVAILABLE = "available"
    NONE = "none"


@dataclass(slots=True)
class Context:
    """What checks need besides the value: where the file is, and where problems go.

    ``credentials`` replaces ``$CREDENTIALS_DIRECTORY`` (``secrets.loaded_credential``);
    ``unread`` collects the secrets that ``secrets`` left unread, as ``Problem`` lines."""

    file: str
    base_dir: Path
    lines: LineIndex
    environ: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    secrets: Secrets = Secrets.ALL
    credentials: str | None = None
    unread: list[Problem] = field(default_factory=list)

    def report(self, path: KeyPath, message: str) -> None:
        """Record one problem at ``path``."""
        line = self.lines.line(path)
        self.problems.append(Problem(self.file, line, dotted(path), message))

    def note_unread(self, path: KeyPath, message: str) -> None:
        """Record a secret at ``path`` that was not read, and why."""
        self.unread.append(Problem(self.file, self.lines.line(path), dotted(path), message))


Convert = Callable[[Any, Context, KeyPath], Any]
Build = Callable[[dict[str, Any], Context], Any]


@dataclass(frozen=True, slots=True)
class Check:
    """Turns a TOML value into a settings value or raises ``Invalid``.

    ``kind`` names the type in the docs; ``nested`` is the table a table check validates.
    """

    kind: str
    convert: Convert
    nested: Table | None = None


@dataclass(frozen=True, slots=True)
class Option:
    """One key of a table; unless the table has its own ``build``, the model field ``name``.

    ``default_doc`` replaces the model's default in the docs when the loader computes it.
    """

    name: str
    check: Check
    doc: str
    default_doc: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """A TOML table and the model it builds; ``build`` combines keys (default: the model)."""

    title: str
    model: type
    options: tuple[Option, ...]
    doc: str
    build: Build | None = None

    def option(self, name: str) -> Option | None:
        """The option called ``name``, if any."""
        return next((o for o in self.options if o.name == name), None)

    def required(self) -> tuple[str, ...]:
        """Names of keys the model has no default for."""
        missing = dataclasses.MISSING
        return tuple(
            f.name
            for f in dataclasses.fields(self.model)
            if f.default is missing and f.default_factory is missing and self.option(f.name)
        )


def validate_table(data: Mapping[str, Any], table: Table, ctx: Context, path: KeyPath) -> Any:
    """Check every key of ``data`` and build the model; raises ``Reported`` on any problem."""
    values: dict[str, Any] = {}
    ok = True
    for name, raw in data.items():
        option = table.option(name)
        if option is None:
            ctx.report((*path, name), unknown_key(name, table))
            ok = False
            continue
        try:
            values[name] = option.check.convert(raw, ctx, (*path, name))
        except Invalid as err:
            ctx.report((*path, name, *_sub(err)), err.message)
            ok = False
        except Reported:
            ok = False
    for name in table.required():
        if name not in data:
            ctx.report((*path, name), "required key is missing")
            ok = False
    if not ok:
        raise Reported
    return _build(values, table, ctx, path)


def _build(values: dict[str, Any], table: Table, ctx: Context, path: KeyPath) -> Any:
    try:
        if table.build is not None:
            return table.build(values, ctx)
        return table.model(**values)
    except Invalid as err:
        ctx.report((*path, *_sub(err)), err.message)
        raise Reported from None


def _sub(err: Invalid) -> KeyPath:
    if err.key is None:
        return ()
    return err.key if isinstance(err.key, tuple) else (err.key,)


def unknown_key(name: str, table: Table) -> str:
    """``unknown key; did you mean 'idle_timeout_s'?``."""
    names = [o.name for o in table.options]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key (this table takes: {', '.join(names)})"
