"""Secrets (panel keys, the broker password) given inline, in a file, or as a credential.

``NAME`` is the value itself, ``NAME_file`` a file only its owner may read, and
``NAME_credential`` a file in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``).
Each source is read and checked on its own, so its problems show even when another key of
the table is wrong. Messages about secrets never contain them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alarmrx.config import checks as c
from alarmrx.config.problems import Invalid, KeyPath
from alarmrx.config.schema import Check, Context

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


def secret_sources(name: str) -> tuple[str, str, str]:
    """``("key", "key_file", "key_credential")``."""
    return name, f"{name}_file", f"{name}_credential"


def pick_secret(values: Mapping[str, Any], name: str) -> Any:
    """The value of the one source of ``name`` that ``values`` has, or None."""
    given = [source for source in secret_sources(name) if source in values]
    if len(given) > 1:
        raise Invalid(f"give only one of {', '.join(given)}", key=given[1])
    return values[given[0]] if given else None


def inline(parse: Callable[[str], Any] = str) -> Check:
    """The secret written in the file itself."""

    def convert(value: Any, _ctx: Context, _path: KeyPath) -> Any:
        c.expect(value, str, "a string")
        return _parsed(parse, value)

    return Check("string", convert)


def in_file(parse: Callable[[str], Any] = str) -> Check:
    """A file holding the secret; refused when group or others may read it."""
    as_path = c.path()

    def convert(value: Any, ctx: Context, path: KeyPath) -> Any:
        file = as_path.convert(value, ctx, path)
        return _parsed(parse, _read(_private(file)))

    return Check("path", convert)


def credential(parse: Callable[[str], Any] = str) -> Check:
    """A systemd credential: a file name in ``$CREDENTIALS_DIRECTORY``."""
    as_name = c.string(r"[^/]+", "a file name")

    def convert(value: Any, ctx: Context, path: KeyPath) -> Any:
        name = as_name.convert(value, ctx, path)
        directory = ctx.environ.get(CREDENTIALS_DIRECTORY)
        if not directory:
            msg = f"${CREDENTIALS_DIRECTORY} is not set (systemd sets it for LoadCredential=)"
            raise Invalid(msg)
        return _parsed(parse, _read(Path(directory) / name))

    return Check("credential name", convert)


def _parsed(parse: Callable[[str], Any], text: str) -> Any:
    try:
        return parse(text)
    except ValueError as err:
        raise Invalid(str(err)) from None


def _private(path: Path) -> Path:
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise Invalid(f"cannot read {str(path)!r}: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise Invalid(f"{str(path)!r} is not a regular file")
    if mode & 0o044:
        msg = (
            f"{str(path)!r} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )
        raise Invalid(msg)
    return path


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise Invalid(f"cannot read {str(path)!r}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise Invalid(f"{str(path)!r} is not UTF-8 text") from None
    return text.rstrip("\r\n")
