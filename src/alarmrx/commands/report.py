"""``alarmrx report openclose --config FILE --account A --since T --until T
[--format csv|json|html] [--out FILE]``: every arming and disarming of the account in
``[since, until)``, with user and area, times in the account's zone (docs/evidence.md).

Times ``T`` are ISO 8601 dates or date-times; without a zone they are UTC.
"""

from __future__ import annotations

import argparse
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alarmrx.commands import CommandError, add_command

EX_CONFIG = 78


def register(sub: Any) -> None:
    """Add ``report`` and its ``openclose`` action."""
    parser = add_command(sub, "report")
    actions = parser.add_subparsers(dest="action", required=True, metavar="REPORT")
    openclose = actions.add_parser("openclose", help="every arming and disarming of an account")
    period_arguments(openclose)
    openclose.add_argument("--format", choices=("csv", "json", "html"), default="csv")
    openclose.add_argument("--out", type=Path, help="write to this file instead of stdout")
    openclose.set_defaults(handler=run_openclose)


def period_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--account``, ``--since`` and ``--until``."""
    parser.add_argument("--config", required=True, type=Path, help="the daemon's TOML config")
    parser.add_argument("--account", required=True, help="the account, verbatim")
    parser.add_argument("--since", required=True, type=moment, help="from T (included)")
    parser.add_argument("--until", required=True, type=moment, help="to T (excluded)")


def moment(text: str) -> datetime:
    """ISO 8601 date or date-time; naive means UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def load(config: Path) -> Any:
    """The settings without their keys (a reader needs none), or a one-line ``CommandError``
    (exit 78). With PostgreSQL they carry the database password, the reading command's own
    secret, from its file or from the credentials systemd handed over."""
    from alarmrx.config import ConfigError, Secrets, load_settings  # noqa: PLC0415 - --help light

    try:
        settings = load_settings(config, secrets=Secrets.NONE)
        if settings.journal.backend == "postgresql":
            settings = load_settings(config, secrets=Secrets.AVAILABLE)
    except ConfigError as err:
        raise CommandError("; ".join(str(err).splitlines()), status=EX_CONFIG) from None
    return settings


def account_timezone(settings: Any, account: str) -> str:
    """The zone an account's times are shown in: its schedule's, else its own, else UTC."""
    for entry in settings.accounts:
        if entry.account == account:
            schedule = entry.schedule
            return (schedule and schedule.timezone) or entry.timezone or "UTC"
    raise CommandError(f"account {account!r} is not configured")


def run_openclose(args: argparse.Namespace) -> int:
    """Print (or write) the report."""
    from alarmrx.journal import JournalError, query  # noqa: PLC0415
    from alarmrx.reports import armings, render  # noqa: PLC0415

    settings = load(args.config)
    zone = account_timezone(settings, args.account)
    try:
        if settings.journal.backend == "postgresql":
            from alarmrx.commands.journal_pg import query_records  # noqa: PLC0415 - the extra

            records = query_records(settings, args.account, args.since, args.until)
        else:
            records = query(
                settings.journal.path, account=args.account, since=args.since, until=args.until
            )
        rows = armings(records, zone)
    except (JournalError, sqlite3.Error) as err:
        raise CommandError(str(err)) from None
    text = render(rows, args.format, account=args.account, since=args.since, until=args.until)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0
