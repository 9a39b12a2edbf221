"""``alarmrx check --config FILE``: validate the configuration and its keys.

Exit 0 with a short summary (keys shown as present or not, never their value), or 78
(``EX_CONFIG``, which the systemd unit does not restart on) with every problem on stderr as
``file:line: dotted.key: what is wrong``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alarmrx.config import (
    AccountSettings,
    ConfigError,
    Settings,
    load_settings,
    refuse_for_daemon,
)

EX_CONFIG = 78


def register(sub: Any) -> None:
    """Add the ``check`` sub-command."""
    parser = sub.add_parser("check", help="validate a configuration file and its keys")
    parser.add_argument("--config", required=True, type=Path, metavar="FILE")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the summary, or every problem; 0 or 78."""
    try:
        settings = load_settings(args.config)
        refuse_for_daemon(settings, args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EX_CONFIG
    print("\n".join(summary(settings)))
    return 0


def summary(settings: Settings) -> Iterator[str]:
    """The lines ``check`` prints for a valid configuration."""
    receiver, journal = settings.receiver, settings.journal
    yield f"{settings.source}: ok"
    listen = ", ".join(str(a) for a in receiver.listen)
    yield f"receiver {receiver.id}: {listen} (tcp and udp)"
    yield f"unknown accounts: {receiver.unknown_accounts}"
    fsync = "on" if journal.fsync else "OFF"
    yield f"journal: {journal.path} (fsync {fsync}, kept {journal.retention_days} days)"
    metrics = settings.metrics.listen
    yield f"metrics: {metrics if metrics else 'off'}"
    mqtt = settings.mqtt
    yield f"mqtt: {mqtt.url} (topic root {mqtt.topic_root})" if mqtt else "mqtt: off"
    keyed = sum(1 for a in settings.accounts if a.key is not None)
    yield f"accounts: {len(settings.accounts)} ({keyed} with a key)"
    yield from (f"  {account_line(a)}" for a in settings.accounts)


def account_line(entry: AccountSettings) -> str:
    """One account: its match, whether it has a key (never the key) and its name."""
    match = f"receiver {entry.receiver or 'any'}, line {entry.line or 'any'}"
    key = "key: yes" if entry.key is not None else "key: no"
    if entry.require_encryption:
        key += ", encryption required"
    name = f"  {entry.name}" if entry.name else ""
    return f"{entry.account:<16} {match}, {key}, zones: {len(entry.zones)}{name}"
