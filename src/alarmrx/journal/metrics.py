"""The hooks the journal calls; ``alarmrx.observability`` implements them with Prometheus."""

from __future__ import annotations

from typing import Protocol


class JournalMetrics(Protocol):
    """Called on the event loop thread, never from the writer thread."""

    def observe_commit(self, seconds: float, batch_size: int) -> None:
        """One committed transaction: its duration (BEGIN to durable COMMIT) and how many
        appends (new records and recognised retransmissions) it served."""

    def record_appended(self, kind: str, count: int = 1) -> None:
        """``count`` new records chained, ``kind`` being their ``RecordKind`` value."""

    def set_healthy(self, healthy: bool) -> None:
        """False after a failed commit, True again after the next successful one."""
