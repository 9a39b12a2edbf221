"""Records, clocks and a metrics recorder for the journal tests."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alarmrx.journal import NewRecord, RecordKind

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def message(
    n: int,
    *,
    at: datetime | None = None,
    account: str = "1234",
    key: bytes | None = None,
    raw: bytes | None = None,
    **fields: Any,
) -> NewRecord:
    """A MESSAGE record like the receiver appends, ``n`` making it distinct."""
    sequence = f"{n % 10000:04d}"
    frame = f'\n"SIA-DCS"{sequence}L0#{account}[#{account}|NBA1]\r'.encode()
    return NewRecord(
        kind=RecordKind.MESSAGE,
        received_at=at or T0 + timedelta(seconds=n),
        account=account,
        body={"token": "SIA-DCS", "sequence": sequence, "events": [{"code": "BA", "zone": "1"}]},
        raw=frame if raw is None else raw,
        peer="127.0.0.1:40000",
        transport="tcp",
        reply="ACK",
        priority=3,
        dedupe_key=key,
        **fields,
    )


@dataclass
class Metrics:
    """A JournalMetrics that remembers every call."""

    commits: list[tuple[float, int]] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)
    health: list[bool] = field(default_factory=list)

    def observe_commit(self, seconds: float, batch_size: int) -> None:
        self.commits.append((seconds, batch_size))

    def record_appended(self, kind: str, count: int = 1) -> None:
        self.appended += [kind] * count

    def set_healthy(self, healthy: bool) -> None:
        self.health.append(healthy)


def stored_seqs(path: Path) -> list[int]:
    """The journal_seq of every stored record, read with a plain SQLite connection."""
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT journal_seq FROM records ORDER BY 1")]


def execute(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Change the file behind the journal's back, as someone tampering with it would."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def count_rows(path: Path, table: str) -> int:
    """How many rows a table of the journal file holds."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - test-chosen table name
