"""Secrets (panel keys, the broker password) given inline, in a file, or as a credential.

``NAME`` is the value itself, ``NAME_file`` a file only its owner may read, and
``NAME_credential`` a file in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``).
Each source is read and checked on its own, so its problems show even when another key of
the table is wrong. Messages about secrets never contain them.

What is read depends on ``Context.secrets`` (``schema.Secrets``): a secret left unread is
noted in ``Context.unread`` and stands as ``UNREAD``, which ``pick_secret`` turns into None
while ``secret_given`` still says the table has one. ``Context.credentials`` (``alarmrx
check --credentials``) replaces ``$CREDENTIALS_DIRECTORY``: the value of the unit's
``LoadCredential=ID:DIR``, or a directory holding the credentials under their own names.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alarmrx.config import checks as c
from alarmrx.config.problems import Invalid, KeyPath
from alarmrx.config.schema import Check, Context, Secrets

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


class Unread:
    """The value of a secret that was deliberately not read (see ``Secrets``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNREAD"


UNREAD = Unread()


def secret_sources(name: str) -> tuple[str, str, str]:
    """``("key", "key_file", "key_credential")``."""
    return name, f"{name}_file", f"{name}_credential"


def pick_secret(values: Mapping[str, Any], name: str) -> Any:
    """The value of the one source of ``name`` that ``values`` has; None when it has none
    or it was not read."""
    given = [source for source in secret_sources(name) if source in values]
    if len(given) > 1:
        raise Invalid(f"give only one of {', '.join(given)}", key=given[1])
    value = values[given[0]] if given else None
    return None if value is UNREAD else value


def secret_given(values: Mapping[str, Any], name: str) -> bool:
    """True when ``values`` has a source of ``name``, read or not."""
    return any(source in values for source in secret_sources(name))


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
        if ctx.secrets is Secrets.NONE:
            ctx.note_unread(path, f"not read: {str(file)!r} (this command needs no secrets)")
            return UNREAD
        return _parsed(parse, _read(_private(file)))

    return Check("path", convert)


def credential(parse: Callable[[str], Any] = str) -> Check:
    """A systemd credential: a file name in ``$CREDENTIALS_DIRECTORY``."""
    as_name = c.string(r"[^/]+", "a file name")

    def convert(value: Any, ctx: Context, path: KeyPath) -> Any:
        name = as_name.convert(value, ctx, path)
        if ctx.secrets is Secrets.NONE:
            ctx.note_unread(path, f"not read: credential {name!r} (this command needs no secrets)")
            return UNREAD
        file = credential_file(ctx, name)
        if file is not None:
            return _parsed(parse, _read(file))
        unset = f"${CREDENTIALS_DIRECTORY} is not set (systemd sets it for LoadCredential=)"
        if ctx.secrets is Secrets.ALL:
            raise Invalid(unset)
        ctx.note_unread(
            path,
            f"not checked: credential {name!r}: {unset}; "
            "give the unit's LoadCredential= value as --credentials ID:DIR",
        )
        return UNREAD

    return Check("credential name", convert)


def credential_file(ctx: Context, name: str) -> Path | None:
    """Where the credential ``name`` is read from; None when no directory is known."""
    if ctx.credentials is not None:
        return loaded_credential(ctx.credentials, name)
    directory = ctx.environ.get(CREDENTIALS_DIRECTORY)
    return Path(directory) / name if directory else None


def loaded_credential(spec: str, name: str) -> Path:
    """The file systemd's ``LoadCredential=ID:DIR`` hands over as credential ``name``:
    ``ID_FILE`` is ``DIR/FILE``. A ``spec`` without ``ID:`` is a directory of credentials
    under their own names."""
    ident, colon, directory = spec.partition(":")
    if not colon:
        return Path(spec) / name
    prefix = f"{ident}_"
    if not name.startswith(prefix):
        msg = f"credential {name!r} is not loaded by LoadCredential={spec} (names {prefix}…)"
        raise Invalid(msg)
    return Path(directory) / name.removeprefix(prefix)


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
