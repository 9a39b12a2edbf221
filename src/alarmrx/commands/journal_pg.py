"""The ``alarmrx journal`` actions on a PostgreSQL journal (``[journal] backend =
"postgresql"``); imported only then, since the driver is an optional extra."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar

import psycopg

from alarmrx.commands import CommandError
from alarmrx.config import Settings
from alarmrx.journal.errors import JournalError
from alarmrx.journal.postgres.connect import conninfo, describe
from alarmrx.journal.postgres.migrate import copy_sqlite, migrate_schema
from alarmrx.journal.postgres.prune import prune_chains
from alarmrx.journal.postgres.query import query
from alarmrx.journal.postgres.verify import verify_chains
from alarmrx.journal.prune import DEFAULT_MIN_AGE
from alarmrx.journal.records import Record
from alarmrx.journal.verify import VerifyReport

P = ParamSpec("P")
T = TypeVar("T")


def connection_string(settings: Settings) -> str:
    journal = settings.journal
    assert journal.dsn is not None  # noqa: S101 - the config requires it for this backend
    name = f"alarmrx-{settings.receiver.id}"
    return conninfo(journal.dsn, password=journal.password, application_name=name)


def verify(settings: Settings) -> int:
    """``journal ok: …`` and one line per chain, or the first bad record of each bad chain."""
    report = guarded(settings, verify_chains, connection_string(settings))
    state = "ok" if report.ok else "BAD"
    chains = len(report.chains)
    print(f"journal {state}: {report.records} records, {chains} chain{'s' * (chains != 1)}")
    for chain, chain_report in report.chains:
        print(f"  chain {chain}: {_chain_line(chain_report)}")
    return 0 if report.ok else 1


def _chain_line(report: VerifyReport) -> str:
    if not report.ok:
        return f"BAD: record {report.first_bad_seq} {report.problem}: {report.detail}"
    span = f", seq {report.first_seq}..{report.last_seq}" if report.records else ""
    return f"ok: {report.records} records{span}, head {report.last_hash or '-'}"


def query_records(
    settings: Settings, account: str | None, since: datetime | None, until: datetime | None
) -> Iterator[Record]:
    records = guarded(
        settings, query, connection_string(settings), account=account, since=since, until=until
    )
    try:
        yield from records
    except psycopg.Error as err:
        raise JournalError(f"{describe(settings.journal.dsn or '')}: {err}") from None


def migrate(settings: Settings, *, source: Path | None, chain: str | None) -> int:
    """The schema; then, with ``source``, the copy of that SQLite journal."""
    dsn = connection_string(settings)
    before, after = guarded(settings, migrate_schema, dsn)
    where = describe(settings.journal.dsn or "")
    print(f"{where}: schema version {after}" + ("" if before == after else f" (was {before})"))
    if source is None:
        return 0
    report = guarded(
        settings,
        copy_sqlite,
        dsn,
        source,
        chain=chain or settings.receiver.id,
        dedupe_window=timedelta(seconds=settings.journal.dedupe_window_s),
        now=datetime.now(UTC),
    )
    if report.checkpoint_seq is None:
        print(f"{source}: no records to copy")
        return 0
    print(
        f"copied {report.records} records of {source} into chain {report.chain} "
        f"(through seq {report.source_last_seq}); the checkpoint is chain record "
        f"{report.checkpoint_seq}"
        f"; {report.cursors} consumer cursors moved"
    )
    return 0


def prune(settings: Settings, *, before: datetime, now: datetime) -> int:
    """Every chain pruned before ``before``: a summary line and one line per chain."""
    report = guarded(
        settings,
        prune_chains,
        connection_string(settings),
        before=before,
        now=now,
        min_age=DEFAULT_MIN_AGE,
    )
    if report.pruned == 0:
        print(f"nothing to prune before {before.isoformat()}")
        return 0
    chains = len(report.chains)
    print(f"pruned {report.pruned} records, {chains} chain{'s' * (chains != 1)}")
    for chain, chain_report in report.chains:
        if chain_report.pruned == 0:
            print(f"  chain {chain}: nothing to prune")
        else:
            print(
                f"  chain {chain}: pruned {chain_report.pruned} records through seq "
                f"{chain_report.through_seq}; checkpoint is record {chain_report.checkpoint_seq}"
            )
    return 0


def guarded(settings: Settings, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Driver and journal failures as one line, without a traceback or the password."""
    try:
        return function(*args, **kwargs)
    except (JournalError, psycopg.Error, sqlite3.Error, OSError) as err:
        where = describe(settings.journal.dsn or "")
        lines = (line.strip() for line in str(err).splitlines())
        raise CommandError(f"{where}: {' '.join(line for line in lines if line)}") from None
