"""What the rules runner needs from the rest of the daemon, and what every core offers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from alarmrx.journal.records import AppendResult, NewRecord, Record
from alarmrx.journal.tail import JournalTail
from alarmrx.rules.derived import Derived


class RulesJournal(JournalTail, Protocol):
    """The journal as the runner uses it: tailing, a cursor, and appending."""

    async def append(self, record: NewRecord) -> AppendResult: ...

    async def append_many(self, records: Sequence[NewRecord]) -> list[AppendResult]: ...


class RulesMetrics(Protocol):
    """The rules' metrics (``observability.metrics.Metrics`` provides these)."""

    def accounts_offline(self, count: int) -> None:
        """``alarmrx_accounts_offline``: accounts whose supervision is lost."""

    def derived_event(self, event_type: str) -> None:
        """``alarmrx_derived_events_total{type}``: one derived record appended."""

    def internal_error(self, where: str) -> None:
        """``alarmrx_internal_errors_total{where}``: an unexpected error at a task root."""


class NoRulesMetrics:
    """A ``RulesMetrics`` that records nothing (tests, tools)."""

    def accounts_offline(self, count: int) -> None:
        """Ignore."""

    def derived_event(self, event_type: str) -> None:
        """Ignore."""

    def internal_error(self, where: str) -> None:
        """Ignore."""


class Rule(Protocol):
    """A pure rule core: journal records and the current time in, conclusions out.

    ``handle`` folds one record (in journal order; one it has already folded is ignored) and
    returns what it concludes from it; ``on_timer(now)`` returns what is due by ``now``;
    ``next_deadline`` says when ``on_timer`` next has work (None: never);
    ``recorded`` tells it under which ``journal_seq`` a conclusion was appended.
    """

    def handle(self, record: Record) -> list[Derived]: ...

    def on_timer(self, now: datetime) -> list[Derived]: ...

    def next_deadline(self) -> datetime | None: ...

    def recorded(self, derived: Derived, journal_seq: int) -> None: ...


class Untimed:
    """The ``Rule`` members of a core that concludes only when a record arrives: nothing is
    due by time, and nothing about its own conclusions to remember."""

    def on_timer(self, now: datetime) -> list[Derived]:
        """Nothing is due by time."""
        del now
        return []

    def next_deadline(self) -> datetime | None:
        """Never."""
        return None

    def recorded(self, derived: Derived, journal_seq: int) -> None:
        """Nothing to remember."""
