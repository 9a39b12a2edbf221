"""What the receiver needs from the journal: an append that returns once the record is durable."""

from __future__ import annotations

from typing import Protocol

from alarmrx.journal.records import AppendResult, NewRecord


class Sink(Protocol):
    """Satisfied by ``alarmrx.journal.Journal``. ``append`` raises when it cannot commit."""

    async def append(self, record: NewRecord) -> AppendResult:
        """Return after ``record`` is durable (or recognised as a retransmission)."""
        ...
