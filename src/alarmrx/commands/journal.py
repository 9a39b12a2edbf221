"""``alarmrx journal verify|query|prune|backup|migrate``: the journal from the command line
(docs/journal.md; backup and restore in docs/operations.md).

The journal is named by ``--config FILE`` (its ``[journal]``: the SQLite ``path``, or the
PostgreSQL ``dsn`` with ``backend = "postgresql"``) or directly by ``--journal PATH`` (a
SQLite file). Times accept ISO 8601 dates or date-times; without a zone they are UTC.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from alarmrx.commands import CommandError, add_command
from alarmrx.journal import (
    DEFAULT_MIN_AGE,
    JournalError,
    prune,
    query,
    record_json,
    verify_chain,
)

if TYPE_CHECKING:
    from alarmrx.config import Settings

P = ParamSpec("P")
T = TypeVar("T")
EX_CONFIG = 78  # sysexits.h: the configuration is wrong, as for `alarmrx check`


def register(sub: Any) -> None:
    """Add ``journal`` and its four actions."""
    parser = add_command(sub, "journal")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = _action(actions, "verify", "check the hash chain; exit 1 if any record is bad")
    verify.set_defaults(handler=run_verify)
    listing = _action(actions, "query", "print records as JSON lines")
    listing.add_argument("--account", help="only this account (verbatim)")
    listing.add_argument("--since", type=_time, help="received at or after T")
    listing.add_argument("--until", type=_time, help="received before T")
    listing.set_defaults(handler=run_query)
    pruning = _action(actions, "prune", "delete old records, keeping the chain verifiable")
    pruning.add_argument(
        "--before", type=_time, help="cut-off T (default: now minus [journal] retention_days)"
    )
    pruning.set_defaults(handler=run_prune)
    text = "create or upgrade the PostgreSQL schema; copy a SQLite journal into it"
    migrating = actions.add_parser("migrate", help=text, description=text)
    migrating.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        required=True,
        help='the daemon\'s TOML config, with backend = "postgresql"',
    )
    migrating.add_argument(
        "--from",
        dest="source",
        type=_sqlite_source,
        metavar="sqlite:PATH",
        help="copy this SQLite journal into the node's chain",
    )
    migrating.add_argument("--chain", help="the chain to copy into (default: receiver.id)")
    migrating.set_defaults(handler=run_migrate)
    copying = _action(actions, "backup", "copy the journal consistently, even while it is written")
    copying.add_argument("--to", required=True, type=Path, metavar="FILE", help="the copy")
    copying.set_defaults(handler=run_backup)


def _action(actions: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, metavar="FILE", help="the daemon's TOML config")
    source.add_argument("--journal", type=Path, metavar="PATH", help="the journal file itself")
    return parser


def _time(text: str) -> datetime:
    """ISO 8601 date or date-time; naive means UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sqlite_source(text: str) -> Path:
    if not text.startswith("sqlite:") or len(text) == len("sqlite:"):
        raise argparse.ArgumentTypeError(f"expected sqlite:PATH, got {text!r}")
    return Path(text.removeprefix("sqlite:"))


def run_verify(args: argparse.Namespace) -> int:
    """One summary line (and one per chain with PostgreSQL); exit 1 naming the first bad
    record."""
    settings = _settings(args)
    if settings is not None and settings.journal.backend == "postgresql":
        from alarmrx.commands.journal_pg import verify  # noqa: PLC0415 - the optional extra

        return verify(settings)
    path = _journal_path(args)
    report = _guarded(verify_chain, path)
    if report.ok:
        span = f", seq {report.first_seq}..{report.last_seq}" if report.records else ""
        print(f"journal ok: {report.records} records{span}, head {report.last_hash or '-'}")
        return 0
    print(f"journal BAD: record {report.first_bad_seq} {report.problem}: {report.detail}")
    return 1


def run_query(args: argparse.Namespace) -> int:
    """JSON lines, one record each, in ``journal_seq`` order."""
    settings = _settings(args)
    if settings is not None and settings.journal.backend == "postgresql":
        from alarmrx.commands.journal_pg import query_records  # noqa: PLC0415

        records = query_records(settings, args.account, args.since, args.until)
    else:
        records = _guarded(
            query, _journal_path(args), account=args.account, since=args.since, until=args.until
        )
    try:
        for record in records:
            sys.stdout.write(json.dumps(record_json(record), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `… | head`: the reader has what it wanted
        # Python's documented remedy: no second BrokenPipeError when stdout is flushed at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (sqlite3.Error, JournalError) as err:
        raise CommandError(f"reading {args.journal or args.config}: {err}") from None
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """The schema, then the copy when ``--from`` names a SQLite journal; one line each."""
    settings = _settings(args)
    if settings is None or settings.journal.backend != "postgresql":
        raise CommandError(
            f'{args.config}: journal migrate needs [journal] backend = "postgresql"',
            status=EX_CONFIG,
        )
    from alarmrx.commands.journal_pg import migrate  # noqa: PLC0415

    return migrate(settings, source=args.source, chain=args.chain)


def run_prune(args: argparse.Namespace) -> int:
    """Prune before ``--before`` or the configured retention; one summary line."""
    path, retention_days = _source(args)
    now = datetime.now(UTC)
    if args.before is None and retention_days is None:
        raise CommandError("--before is needed with --journal (no config names a retention)")
    before = args.before or now - timedelta(days=retention_days or 0)
    settings = _settings(args)
    if settings is not None and settings.journal.backend == "postgresql":
        from alarmrx.commands.journal_pg import prune as prune_pg  # noqa: PLC0415

        return prune_pg(settings, before=before, now=now)
    report = _guarded(prune, path, before=before, now=now, min_age=DEFAULT_MIN_AGE)
    if report.pruned == 0:
        print(f"nothing to prune before {before.isoformat()}")
    else:
        print(
            f"pruned {report.pruned} records through seq {report.through_seq}; "
            f"checkpoint is record {report.checkpoint_seq}"
        )
    return 0


def run_backup(args: argparse.Namespace) -> int:
    """Copy, verify the copy; one summary line."""
    from alarmrx.journal.backup import backup  # noqa: PLC0415 - keeps --help light

    report = _guarded(backup, _journal_path(args), Path(args.to))
    span = f", seq {report.first_seq}..{report.last_seq}" if report.records else ""
    print(
        f"backup written to {args.to}: {report.records} records{span}, "
        f"head {report.last_hash or '-'}; chain verified"
    )
    return 0


def _guarded(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Journal and SQLite failures as one line, without a traceback."""
    try:
        return function(*args, **kwargs)
    except (JournalError, sqlite3.Error, OSError) as err:
        raise CommandError(str(err)) from None


def _journal_path(args: argparse.Namespace) -> Path:
    return _source(args)[0]


def _source(args: argparse.Namespace) -> tuple[Path, int | None]:
    """The journal's path, and the retention in days when a config names it."""
    settings = _settings(args)
    if settings is None:
        return Path(args.journal), None
    return Path(settings.journal.path), int(settings.journal.retention_days)


def _settings(args: argparse.Namespace) -> Settings | None:
    """The configuration ``--config`` names (loaded once), or None with ``--journal``."""
    if getattr(args, "journal", None) is not None:
        return None
    loaded: Settings | None = getattr(args, "loaded_settings", None)
    if loaded is not None:
        return loaded
    from alarmrx.commands.report import load  # noqa: PLC0415 - --help light

    loaded = load(Path(args.config))
    args.loaded_settings = loaded
    return loaded
