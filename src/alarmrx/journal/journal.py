"""``Journal``: the asyncio face of the system of record.

Appends go to the writer thread (group commit, see ``writer``); each caller's ``await`` (or
``submit``'s callback) returns only once its batch is durable. Reads run on a second,
read-only connection in its own thread. The event loop never touches SQLite. ``read_after``
answers from the tail in memory (``tail.py``), which every commit fills with the records it
made, so readers that keep up never go to SQLite; the same read asked twice at once goes to
SQLite once. ``on_commit`` hands every commit's stored rows to a listener (the writer
process pushes them to the consumers, ``service.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import structlog

from alarmrx.journal.callers import AppendingJournal, CursorStore, release, report_outcome
from alarmrx.journal.chain import Encoded
from alarmrx.journal.errors import (
    InvalidRecordError,
    JournalClosedError,
    JournalError,
)
from alarmrx.journal.metrics import JournalMetrics
from alarmrx.journal.prune import DEFAULT_MIN_AGE, PruneReport, check_prune
from alarmrx.journal.records import NewRecord, Record
from alarmrx.journal.rows import SELECT_RECORDS, StoredRow, record_from_row, record_from_stored
from alarmrx.journal.schema import connect_reader
from alarmrx.journal.tail import Tail
from alarmrx.journal.writer import (
    AppendRequest,
    Outcome,
    PruneRequest,
    Waiter,
    Writer,
    WriterHooks,
)

log = structlog.get_logger("alarmrx.journal")

# Gets the results of ``submit`` (one per record, in order), or the JournalError it failed with.
# Gets each commit's new rows and the ``journal_seq`` whose repeats it counted, in order.
CommitListener = Callable[[list[StoredRow], list[int]], None]

_READ_AFTER = f"{SELECT_RECORDS} WHERE r.journal_seq > ? ORDER BY r.journal_seq LIMIT ?"


class Journal(AppendingJournal[NewRecord | Encoded], CursorStore):
    """Append-only, hash-chained, durable before ``append`` returns. Build with ``open``."""

    _writer: Writer
    _LOAD_CURSOR = "SELECT journal_seq FROM cursors WHERE name = ?"

    def __init__(
        self,
        path: Path,
        *,
        fsync: bool,
        dedupe_window: timedelta,
        metrics: JournalMetrics | None,
        hooks: WriterHooks,
    ) -> None:
        self._path = path
        self._loop = asyncio.get_running_loop()
        self._metrics = metrics
        self._writer = Writer(
            path, fsync=fsync, dedupe_window=dedupe_window, hooks=hooks, deliver=self._post
        )
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-read")
        self._reader_conn: sqlite3.Connection | None = None
        self._tail: Tail | None = Tail()
        self._listeners: list[CommitListener] = []
        self._reads: dict[tuple[int, int], asyncio.Task[list[Record]]] = {}  # under way
        self._last_seq = 0
        self._advanced = asyncio.Event()
        self._healthy = True
        self._last_error: str | None = None
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        fsync: bool = True,
        dedupe_window_s: float = 120.0,
        metrics: JournalMetrics | None = None,
        hooks: WriterHooks | None = None,
    ) -> Self:
        """Create or open the file, check the chain head, rebuild the dedupe index."""
        journal = cls(
            path,
            fsync=fsync,
            dedupe_window=timedelta(seconds=dedupe_window_s),
            metrics=metrics,
            hooks=hooks or WriterHooks(),
        )
        await journal._start(path, metrics)
        return journal

    async def _start(self, path: Path, metrics: JournalMetrics | None) -> None:
        """Open the writer's connection, take the chain head from it, start the writer."""
        try:
            head = await asyncio.to_thread(self._writer.connect)
        except (sqlite3.Error, OSError) as err:
            raise JournalError(f"cannot open journal {path}: {err}") from err
        finally:
            if not self._writer.connected:
                self._reader.shutdown(wait=False)
        self._last_seq = head.journal_seq
        self._writer.start()
        if metrics is not None:
            metrics.set_healthy(True)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def last_seq(self) -> int:
        """The highest ``journal_seq`` this process has seen committed."""
        return self._last_seq

    def submit(self, records: Sequence[NewRecord | Encoded], done: Waiter) -> None:
        """``append_many`` with a callback: ``done`` runs on the event loop with the results
        once the records are durable, or with the ``JournalError`` when the commit failed.
        The receiver's hot path: no task or future per frame. Raises like ``append_many``
        for a closed journal or a naive ``received_at``. Records encoded beforehand
        (``chain.encode_new``, from another process) are checked by the writer thread."""
        self._queue(records, done)

    def _queue(self, records: Sequence[NewRecord | Encoded], waiter: Waiter) -> None:
        self._ensure_open()
        for record in records:
            if isinstance(record, NewRecord) and record.received_at.tzinfo is None:
                raise InvalidRecordError("received_at must carry a time zone")
        self._writer.submit(AppendRequest(tuple(records), waiter))

    async def read_after(self, journal_seq: int, *, limit: int = 500) -> list[Record]:
        """Up to ``limit`` records with a ``journal_seq`` above the given one, in order.

        The records may be shared with other readers: do not change their ``body``.
        """
        recent = self._tail.after(journal_seq, limit, self._last_seq) if self._tail else None
        if recent is not None:
            return recent
        key = (journal_seq, limit)
        read = self._reads.get(key)
        if read is None:
            read = self._loop.create_task(self._read_records(journal_seq, limit))
            self._reads[key] = read
            read.add_done_callback(self._read_done)
        return list(await asyncio.shield(read))

    def _read_done(self, read: asyncio.Task[list[Record]]) -> None:
        self._reads = {k: r for k, r in self._reads.items() if r is not read}
        if not read.cancelled():
            read.exception()  # retrieved: every reader may have been cancelled meanwhile

    async def _read_records(self, journal_seq: int, limit: int) -> list[Record]:
        rows = await self._read(_READ_AFTER, (journal_seq, limit))
        records = [record_from_row(row) for row in rows]
        if self._tail is not None:
            self._tail.keep(records)
        return records

    def on_commit(self, listener: CommitListener, *, keep_tail: bool = True) -> None:
        """Call ``listener`` on the event loop after every commit, before the callers are
        released. Without ``keep_tail`` this process keeps no tail of its own (its readers,
        if any, go to SQLite): the listener takes the records elsewhere."""
        self._listeners.append(listener)
        if not keep_tail:
            self._tail = None

    async def wait_for(self, journal_seq: int) -> None:
        """Return once ``last_seq > journal_seq``; raise ``JournalClosedError`` on close."""
        while self._last_seq <= journal_seq:
            self._ensure_open()
            await self._advanced.wait()

    async def prune(
        self, *, before: datetime, now: datetime, min_age: timedelta = DEFAULT_MIN_AGE
    ) -> PruneReport:
        """Retention through the writer: the cut-off and the chain are checked on a helper
        thread, then the writer prunes between two group commits, so ``last_seq`` includes
        the checkpoint. Raises ``PruneRefusedError`` or ``JournalWriteError``."""
        self._ensure_open()
        await asyncio.to_thread(check_prune, self._path, before=before, now=now, min_age=min_age)
        future: asyncio.Future[PruneReport] = self._loop.create_future()
        self._writer.submit(PruneRequest(before, now, future))
        return await future

    async def close(self) -> None:
        """Commit what is queued, then close both connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        self._advanced.set()
        await self._loop.run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown(wait=False)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _ensure_open(self) -> None:
        if self._closed:
            raise JournalClosedError(f"journal {self._path} is closed")

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self._ensure_open()
        return await self._loop.run_in_executor(self._reader, self._fetch, sql, params)

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._reader_conn is None:
            self._reader_conn = connect_reader(self._path, live=True)  # beside the writer
        return self._reader_conn.execute(sql, params).fetchall()

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    def _post(self, outcome: Outcome) -> None:
        """Writer thread: hand the outcome to the loop (dropped if the loop is gone)."""
        try:
            self._loop.call_soon_threadsafe(self._settle, outcome)
        except RuntimeError:
            return

    def _settle(self, outcome: Outcome) -> None:
        """Loop thread: health, head, metrics, then release the callers."""
        self._note_health(outcome)
        tail = self._tail
        if outcome.committed and tail is not None:
            tail.keep([record_from_stored(row) for row in outcome.rows])
        if tail is not None:
            for journal_seq in outcome.repeated:  # its ``repeats`` grew: read it anew
                tail.forget(journal_seq)
        if outcome.committed:
            self._tell(outcome)
        if outcome.committed and outcome.head_seq > self._last_seq:
            self._last_seq = outcome.head_seq
            self._advanced.set()
            self._advanced = asyncio.Event()
        report_outcome(self._metrics, outcome)
        release(outcome)

    def _tell(self, outcome: Outcome) -> None:
        for listener in self._listeners:
            try:
                listener(outcome.rows, outcome.repeated)
            except Exception:  # a listener's bug never keeps the callers waiting
                log.exception("commit_listener_failed")
