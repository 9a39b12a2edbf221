"""``alarmrx check --config FILE [--credentials ID:DIR]``: validate the configuration and
its keys.

Exit 0 with a short summary (keys shown as present or not, never their value), or 78
(``EX_CONFIG``, which the systemd unit does not restart on) with every problem on stderr as
``file:line: dotted.key: what is wrong``.

Keys given as systemd credentials (``key_credential``) are read from
``$CREDENTIALS_DIRECTORY`` when systemd sets it (the unit's ``ExecStartPre=``), else from
``--credentials``: the unit's ``LoadCredential=`` value (``keys:/etc/alarmrx/keys``), which
only root can read. Without either they are listed as not checked, and the rest of the
file is still checked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alarmrx.commands import add_command
from alarmrx.config import (
    AccountSettings,
    ConfigError,
    Secrets,
    Settings,
    load_settings,
    refuse_for_daemon,
)

EX_CONFIG = 78


def register(sub: Any) -> None:
    """Add the ``check`` sub-command."""
    parser = add_command(sub, "check")
    parser.add_argument("--config", required=True, type=Path, metavar="FILE")
    parser.add_argument(
        "--credentials",
        metavar="ID:DIR",
        help="read key_credential and password_credential files as the unit's "
        "LoadCredential=ID:DIR hands them over (e.g. keys:/etc/alarmrx/keys), or from DIR",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary, or every problem; 0 or 78."""
    try:
        settings = load_settings(
            args.config, secrets=Secrets.AVAILABLE, credentials=args.credentials
        )
        refuse_for_daemon(settings, args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EX_CONFIG
    print("\n".join(summary(settings)))
    return 0


def summary(settings: Settings) -> Iterator[str]:
    """The lines ``check`` prints for a valid configuration."""
    receiver = settings.receiver
    yield f"{settings.source}: ok"
    listen = ", ".join(str(a) for a in receiver.listen)
    yield f"receiver {receiver.id}: {listen} (tcp and udp)"
    yield f"unknown accounts: {receiver.unknown_accounts}"
    yield journal_line(settings)
    metrics = settings.metrics.listen
    yield f"metrics: {metrics if metrics else 'off'}"
    mqtt = settings.mqtt
    yield f"mqtt: {', '.join(mqtt.urls)} (topic root {mqtt.topic_root})" if mqtt else "mqtt: off"
    unread = unread_accounts(settings)
    keyed = sum(1 for a in settings.accounts if a.key is not None)
    unchecked = f", {len(unread)} not checked" if unread else ""
    yield f"accounts: {len(settings.accounts)} ({keyed} with a key{unchecked})"
    for index, entry in enumerate(settings.accounts):
        yield f"  {account_line(entry, unread=index in unread)}"
    if settings.unread_secrets:
        yield f"not checked ({len(settings.unread_secrets)}):"
        yield from (f"  {problem}" for problem in settings.unread_secrets)


def journal_line(settings: Settings) -> str:
    """Where the journal is: the SQLite file, or the PostgreSQL database and this node's
    chain (never the password)."""
    journal = settings.journal
    if journal.backend == "postgresql" and journal.dsn is not None:
        from alarmrx.journal.postgres.connect import describe  # noqa: PLC0415 - optional extra

        return (
            f"journal: {describe(journal.dsn)}, chain {settings.receiver.id} "
            f"(consumers taken over within {journal.takeover_s:g} s)"
        )
    fsync = "on" if journal.fsync else "OFF"
    return f"journal: {journal.path} (fsync {fsync}, kept {journal.retention_days} days)"


def unread_accounts(settings: Settings) -> set[int]:
    """Indexes of the accounts whose key was left unread."""
    return {
        index
        for index in range(len(settings.accounts))
        for problem in settings.unread_secrets
        if problem.key.startswith(f"accounts[{index}].key")
    }


def account_line(entry: AccountSettings, *, unread: bool = False) -> str:
    """One account: its match, whether it has a key (never the key) and its name."""
    match = f"receiver {entry.receiver or 'any'}, line {entry.line or 'any'}"
    key = "key: yes" if entry.key is not None else "key: no"
    if unread:
        key = "key: not checked"
    if entry.require_encryption:
        key += ", encryption required"
    name = f"  {entry.name}" if entry.name else ""
    return f"{entry.account:<16} {match}, {key}, zones: {len(entry.zones)}{name}"
