"""``alarmrx evidence export`` from a PostgreSQL journal (``[journal] backend =
"postgresql"``); imported only then, since the driver is an optional extra."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alarmrx.commands.journal_pg import connection_string, guarded
from alarmrx.config import Settings
from alarmrx.evidence.bundle import Exported, Request, export
from alarmrx.evidence.source_pg import snapshot


def export_pg(settings: Settings, request: Request, out: Path, *, now: datetime) -> Exported:
    """The bundle of ``request`` from every chain, in one snapshot."""
    dsn = connection_string(settings)
    return guarded(settings, export, lambda: snapshot(dsn), request, out, now=now)
