"""The journal each process of a daemon writes through, by ``[journal] backend``.

SQLite: the writer process's, over ``journal.remote`` (one writer per file). PostgreSQL:
the process's own ``PostgresJournal`` (its own group commit) on the node's chain, named
after ``receiver.id``; the processes of a node take turns on the chain's head, and the nodes
never wait on each other's (docs/journal.md, "PostgreSQL").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from alarmrx.config import Settings
from alarmrx.journal.metrics import JournalMetrics
from alarmrx.journal.remote import RemoteJournal
from alarmrx.processes.runtime import Runtime

if TYPE_CHECKING:
    from alarmrx.journal.postgres import PostgresJournal

POSTGRESQL = "postgresql"


def on_postgresql(settings: Settings) -> bool:
    """True when the daemon's processes write to PostgreSQL (no writer process)."""
    return settings.journal.backend == POSTGRESQL


def postgres_conninfo(settings: Settings, role: str) -> str:
    """The ``dsn`` with the password and ``application_name=alarmrx-<receiver.id>-<role>``
    (what ``pg_stat_activity`` shows)."""
    from alarmrx.journal.postgres.connect import conninfo  # noqa: PLC0415 - optional extra

    journal = settings.journal
    assert journal.dsn is not None  # noqa: S101 - the config requires it for postgresql
    name = f"alarmrx-{settings.receiver.id}-{role}"
    return conninfo(journal.dsn, password=journal.password, application_name=name)


async def open_journal(
    settings: Settings,
    runtime: Runtime,
    *,
    role: str,
    metrics: JournalMetrics | None = None,
    subscribe: bool = True,
    within_s: float | None = 30.0,
    on_connection: Callable[[bool], None] | None = None,
) -> RemoteJournal | PostgresJournal:
    """This process's journal: the writer's (``subscribe``, ``within_s``, ``on_connection``
    as ``RemoteJournal.connect`` takes them) or PostgreSQL's, opened even while the database
    cannot be reached (nothing is ACKed until it can)."""
    if not on_postgresql(settings):
        return await RemoteJournal.connect(
            settings.journal.path,
            runtime.writer_socket,
            subscribe=subscribe,
            within_s=within_s,
            on_connection=on_connection,
        )
    from alarmrx.journal.postgres import PostgresJournal  # noqa: PLC0415 - optional extra

    return await PostgresJournal.open(
        postgres_conninfo(settings, role),
        chain=settings.receiver.id,
        dedupe_window_s=settings.journal.dedupe_window_s,
        metrics=metrics,
        reachable=False,  # the process starts, answers no frame, and connects when it can
        follow=subscribe,
    )
