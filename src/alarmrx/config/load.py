"""``load_settings``: read a TOML file, check all of it, and return frozen ``Settings``."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from alarmrx.config.lines import LineIndex
from alarmrx.config.model import Settings
from alarmrx.config.problems import ConfigError, Problem, Reported
from alarmrx.config.schema import Context, Secrets, validate_table
from alarmrx.config.sections import ROOT

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)$|\s*\(at end of document\)$")


def load_settings(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    secrets: Secrets = Secrets.ALL,
    credentials: str | None = None,
) -> Settings:
    """Load and validate ``path``; raise ``ConfigError`` listing every problem found.

    ``environ`` (default ``os.environ``) supplies ``$CREDENTIALS_DIRECTORY``; ``credentials``
    (``ID:DIR`` as in ``LoadCredential=``, or a directory) replaces it. ``secrets`` says
    which keys and passwords are read (``Secrets``); those left unread are listed in
    ``Settings.unread_secrets``.
    """
    text = _read(path)
    data = _parse(text, path)
    ctx = Context(
        file=str(path),
        base_dir=path.parent.absolute(),
        lines=LineIndex(text),
        environ=os.environ if environ is None else environ,
        secrets=secrets,
        credentials=credentials,
    )
    try:
        settings: Settings = validate_table(data, ROOT, ctx, ())
    except Reported:
        in_file_order = sorted(ctx.problems, key=lambda p: p.line or 0)
        raise ConfigError(in_file_order) from None
    return dataclasses.replace(settings, unread_secrets=tuple(ctx.unread))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise _one(path, None, f"not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise _one(path, None, f"cannot read: {err.strerror or err}") from None


def _parse(text: str, path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        match = _TOML_POSITION.search(message)
        line = int(match.group(1)) if match and match.group(1) else None
        detail = message[: match.start()] if match else message
        raise _one(path, line, f"TOML syntax: {detail}") from None


def _one(path: Path, line: int | None, message: str) -> ConfigError:
    return ConfigError([Problem(str(path), line, "", message)])


def refuse_for_daemon(settings: Settings, path: Path) -> None:
    """Raise ``ConfigError`` for what loads but ``alarmrx run`` cannot serve; nothing at
    present (the PostgreSQL journal runs several nodes, docs/deployment.md)."""
    del settings, path
