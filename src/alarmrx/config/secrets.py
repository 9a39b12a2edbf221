"""Secrets (panel keys, the broker password) given inline, in a file, or as a credential.

``NAME`` is the value itself, ``NAME_file`` a file only its owner may read, and
``NAME_credential`` a file in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``).
Messages about secrets never contain them.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alarmrx.config.problems import Invalid
from alarmrx.config.schema import Context

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


def secret_sources(name: str) -> tuple[str, str, str]:
    """``("key", "key_file", "key_credential")``."""
    return name, f"{name}_file", f"{name}_credential"


def read_secret(values: Mapping[str, Any], name: str, ctx: Context) -> tuple[str, str] | None:
    """``(source key, secret text)`` from the one source ``values`` gives, or None."""
    given = [source for source in secret_sources(name) if source in values]
    if len(given) > 1:
        raise Invalid(f"give only one of {', '.join(given)}", key=given[1])
    if not given:
        return None
    source = given[0]
    if source == name:
        return source, str(values[name])
    if source.endswith("_file"):
        return source, _read(_private(values[source], source), source)
    return source, _read(_credential(values[source], ctx.environ, source), source)


def _private(path: Path, source: str) -> Path:
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise Invalid(f"cannot read {str(path)!r}: {err.strerror}", key=source) from None
    if not stat.S_ISREG(mode):
        raise Invalid(f"{str(path)!r} is not a regular file", key=source)
    if mode & 0o044:
        msg = (
            f"{str(path)!r} is readable by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )
        raise Invalid(msg, key=source)
    return path


def _credential(name: str, environ: Mapping[str, str], source: str) -> Path:
    directory = environ.get(CREDENTIALS_DIRECTORY)
    if not directory:
        msg = f"${CREDENTIALS_DIRECTORY} is not set (systemd sets it for LoadCredential=)"
        raise Invalid(msg, key=source)
    return Path(directory) / name


def _read(path: Path, source: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise Invalid(f"cannot read {str(path)!r}: {err.strerror}", key=source) from None
    except UnicodeDecodeError:
        raise Invalid(f"{str(path)!r} is not UTF-8 text", key=source) from None
    return text.rstrip("\r\n")
