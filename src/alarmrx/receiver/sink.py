"""What the receiver needs from the journal: appends reported once the records are durable."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from alarmrx.journal.errors import JournalError
from alarmrx.journal.records import AppendResult, NewRecord


class Sink(Protocol):
    """Satisfied by ``alarmrx.journal.Journal``."""

    def submit(
        self,
        records: Sequence[NewRecord],
        done: Callable[[list[AppendResult] | JournalError], None],
    ) -> None:
        """Queue ``records``; ``done`` runs on the event loop with one result per record once
        they are durable (or recognised as retransmissions), or with the ``JournalError``
        when the commit failed. Raises ``JournalError`` when nothing can be queued."""
        ...
