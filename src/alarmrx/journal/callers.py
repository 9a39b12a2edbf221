"""What every journal does for its callers (``Journal``, ``PostgresJournal``,
``RemoteJournal``): ``append`` and ``append_many`` over ``submit``, a batch's outcome told
to the metrics, each caller's result handed to its future or callback, and the consumers'
cursors of a journal with its own writer."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import structlog

from alarmrx.journal.chain import Encoded
from alarmrx.journal.metrics import JournalMetrics
from alarmrx.journal.records import AppendResult, NewRecord
from alarmrx.journal.writer import CursorRequest, Outcome, Waiter

log = structlog.get_logger("alarmrx.journal")

# What a journal takes: ``NewRecord``s, and in the writers own process records encoded beforehand
R = TypeVar("R", bound=NewRecord | Encoded)


class AppendingJournal(Generic[R]):
    """``append`` and ``append_many`` for a journal that has ``submit``, and its health."""

    _loop: asyncio.AbstractEventLoop
    _healthy: bool
    _last_error: str | None

    @property
    def healthy(self) -> bool:
        """False after a failed commit, until a commit succeeds."""
        return self._healthy

    @property
    def last_error(self) -> str | None:
        """Why the last commit failed, while unhealthy."""
        return self._last_error

    def _note_health(self, outcome: Outcome) -> None:
        """A failed batch makes the journal unhealthy, a committed one healthy again."""
        if outcome.error is not None or outcome.committed:
            self._healthy, self._last_error = outcome.error is None, outcome.error

    def submit(self, records: Sequence[R], done: Waiter) -> None:
        raise NotImplementedError

    def _ensure_open(self) -> None:
        raise NotImplementedError

    async def append(self, record: R) -> AppendResult:
        """Chain ``record`` (or count it as a retransmission); return once durable.

        Raises ``JournalWriteError`` when the commit failed: the record is not acknowledged.
        """
        return (await self.append_many((record,)))[0]

    async def append_many(self, records: Sequence[R]) -> list[AppendResult]:
        """Append several records in one transaction, in order."""
        if not records:
            self._ensure_open()
            return []
        future: asyncio.Future[list[AppendResult]] = self._loop.create_future()
        self.submit(records, future)
        return await future


class CursorWriter(Protocol):
    """A writer that commits a cursor with its next batch."""

    def submit(self, request: CursorRequest) -> None: ...


class CursorStore:
    """``load_cursor`` and ``save_cursor`` for a journal that reads its database with
    ``_read`` and saves cursors through its own writer."""

    _LOAD_CURSOR: ClassVar[str]  # one cursor's ``journal_seq`` by ``name``, in the driver's style
    _loop: asyncio.AbstractEventLoop
    _writer: CursorWriter

    def _ensure_open(self) -> None:
        raise NotImplementedError

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def load_cursor(self, name: str) -> int:
        """The position a consumer saved, 0 when it never saved one."""
        rows = await self._read(self._LOAD_CURSOR, (name,))
        return int(rows[0][0]) if rows else 0

    async def save_cursor(self, name: str, journal_seq: int) -> None:
        """Store a consumer's position durably (committed with the next batch)."""
        self._ensure_open()
        future: asyncio.Future[None] = self._loop.create_future()
        self._writer.submit(CursorRequest(name, journal_seq, future))
        await future


def report_outcome(metrics: JournalMetrics | None, outcome: Outcome) -> None:
    """A committed or failed batch, told to the metrics."""
    if metrics is None or not (outcome.committed or outcome.error):
        return
    metrics.set_healthy(outcome.committed)
    if outcome.committed:
        metrics.observe_commit(outcome.seconds, outcome.served)
    for kind, count in Counter(outcome.kinds).items():  # one call a kind, not one a record
        metrics.record_appended(kind, count)


def release(outcome: Outcome) -> None:
    """Every caller of the batch gets its result, or its error."""
    for waiter, result in outcome.settled:
        resolve(waiter, result, failed=False)
    for waiter, error in outcome.failed:
        resolve(waiter, error, failed=True)


def resolve(waiter: Waiter, result: Any, *, failed: bool, logger: Any = log) -> None:
    """Hand one request's result to its future or callback; a callback's bug is logged and
    never keeps the rest of the batch from being released."""
    if isinstance(waiter, asyncio.Future):
        if not waiter.done():
            waiter.set_exception(result) if failed else waiter.set_result(result)
        return
    try:
        waiter(result)
    except Exception:
        logger.exception("append_callback_failed")
