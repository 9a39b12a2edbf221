"""``RemoteJournal``: the journal as another process sees it, with ``Journal``'s interface.

Appends and cursor saves go to the writer process over ``ipc`` and are answered once durable;
reads use this process's own read-only SQLite connection (in a thread) and a tail in memory,
so each consumer reads at its own pace without the writer. A client that follows ``records``
gets every commit's records from the writer into that tail, so a reader that keeps up never
goes to SQLite. While the writer cannot be
reached every append fails at once with ``JournalWriteError`` (a receiver worker then sends
no reply and the panel retries); the connection is retried every ``RECONNECT_S``. Requests
in flight when the connection drops fail too: they may have committed, and the panel's retry
is then recognised as a retransmission.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import msgspec
import structlog

from alarmrx.journal.callers import AppendingJournal, resolve
from alarmrx.journal.errors import (
    InvalidRecordError,
    JournalClosedError,
    JournalError,
    JournalWriteError,
)
from alarmrx.journal.ipc import (
    Appended,
    AppendEncoded,
    Committed,
    Failed,
    Head,
    Message,
    MessageStream,
    Prune,
    Pruned,
    SaveCursor,
    Saved,
    Subscribe,
    encode_record,
    error_of,
)
from alarmrx.journal.prune import PruneReport
from alarmrx.journal.records import AppendResult, NewRecord, Record
from alarmrx.journal.rows import SELECT_RECORDS, record_from_row, record_from_stored
from alarmrx.journal.schema import connect_reader
from alarmrx.journal.tail import Tail

log = structlog.get_logger("alarmrx.journal.remote")

RECONNECT_S = 0.2
Done = Callable[[list[AppendResult] | JournalError], None]
_Waiter = asyncio.Future[Any] | Done

_READ_AFTER = f"{SELECT_RECORDS} WHERE r.journal_seq > ? ORDER BY r.journal_seq LIMIT ?"
_LOAD_CURSOR = "SELECT journal_seq FROM cursors WHERE name = ?"


class RemoteJournal(AppendingJournal[NewRecord]):
    """A client of the journal writer process. Build with ``connect``."""

    def __init__(
        self,
        path: Path,
        socket: Path,
        *,
        subscribe: bool,
        records: bool,
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        self._path = path
        self._socket = socket
        self._subscribe = subscribe
        self._records = records
        self._loop = asyncio.get_running_loop()
        self._stream: MessageStream | None = None
        self._waiting: dict[int, _Waiter] = {}
        self._next_id = 0
        self._last_seq = 0
        self._advanced = asyncio.Event()
        self._connected = asyncio.Event()
        self._heard = asyncio.Event()  # the first Head arrived
        self._healthy = False
        self._last_error: str | None = "journal writer not connected"
        self._closed = False
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-read")
        self._reader_conn: sqlite3.Connection | None = None
        self._tail = Tail()
        self._keeper: asyncio.Task[None] | None = None
        self._on_connection = on_connection  # see ``connect``
        self._retry = asyncio.Event()  # set by ``reconnect_now``
        self._batch: list[tuple[list[msgspec.Raw], _Waiter]] = []

    @classmethod
    async def connect(
        cls,
        path: Path,
        socket: Path,
        *,
        subscribe: bool = True,
        records: bool = False,
        within_s: float | None = 30.0,
        on_connection: Callable[[bool], None] | None = None,
    ) -> Self:
        """Connect to the writer serving ``path`` on ``socket`` within ``within_s`` (None:
        return at once, connected or not); keep reconnecting whenever the connection drops.
        Subscribers follow the head (``last_seq``, ``wait_for``); with ``records`` they also
        get every commit's records into the tail ``read_after`` answers from.
        ``on_connection`` is told of each connection made (True) and lost (False)."""
        journal = cls(
            path,
            socket,
            subscribe=subscribe,
            records=records and subscribe,
            on_connection=on_connection,
        )
        await journal._start(within_s)
        return journal

    async def _start(self, within_s: float | None) -> None:
        """Keep connected from now on; wait ``within_s`` for the first connection (and, for a
        subscriber, the first head), or not at all."""
        self._keeper = asyncio.create_task(self._keep_connected())
        if within_s is None:
            return
        try:
            async with asyncio.timeout(within_s):
                await self._connected.wait()
                if self._subscribe:
                    await self._heard.wait()
        except TimeoutError:
            await self.close()
            raise JournalError(f"no journal writer at {self._socket}") from None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def last_seq(self) -> int:
        """The newest ``journal_seq`` the writer reported (subscribers only)."""
        return self._last_seq

    @property
    def healthy(self) -> bool:
        """False while the writer is unreachable or its last commit failed."""
        return self._healthy and self._stream is not None

    # -- appends ---------------------------------------------------------------------

    def submit(self, records: Sequence[NewRecord], done: _Waiter) -> None:
        """``done`` (a callback or a future) gets one result per record once durable, or the
        ``JournalError``. Raises ``JournalError`` when nothing can be sent. The appends of one
        turn of the event loop go to the writer as one message."""
        self._ensure_open()
        self._ensure_connected()
        try:
            encoded = list(map(encode_record, map(_checked, records)))  # no comprehension frame
        except (TypeError, msgspec.EncodeError) as err:
            raise InvalidRecordError(f"record cannot be stored: {err}") from err
        if not self._batch:
            self._loop.call_soon(self._send_batch)
        self._batch.append((encoded, done))

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        if self._stream is None or not self._stream.open:
            error = JournalWriteError(f"journal writer unavailable: {self._last_error}")
            for _, waiter in batch:
                _resolve(waiter, error)
            return
        self._next_id += 1
        self._waiting[self._next_id] = _Split(batch)
        self._stream.send(AppendEncoded(self._next_id, [r for rs, _ in batch for r in rs]))
        # The turn's appends are all in: they leave now, not after the next turn's frames are
        # parsed, and the commit starts that much sooner.
        self._stream.flush()

    async def save_cursor(self, name: str, journal_seq: int) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        self._request(lambda i: SaveCursor(i, name, journal_seq), future)
        await future

    async def prune(self, *, before: datetime, now: datetime) -> PruneReport:
        """Retention through the writer (``Journal.prune``, its default minimum age)."""
        future: asyncio.Future[PruneReport] = self._loop.create_future()
        self._request(lambda i: Prune(i, before, now), future)
        return await future

    def _ensure_connected(self) -> None:
        if self._stream is None or not self._stream.open:
            raise JournalWriteError(f"journal writer unavailable: {self._last_error}")

    def _request(self, build: Callable[[int], Message], waiter: _Waiter) -> None:
        self._ensure_open()
        self._ensure_connected()
        assert self._stream is not None  # noqa: S101 - _ensure_connected checked it
        self._next_id += 1
        self._waiting[self._next_id] = waiter
        self._stream.send(build(self._next_id))

    # -- the connection ----------------------------------------------------------------

    async def _keep_connected(self) -> None:
        while not self._closed:
            lost = self._loop.create_future()
            self._retry.clear()
            try:
                _, stream = await self._loop.create_unix_connection(
                    functools.partial(
                        MessageStream, self._received, functools.partial(_settle, lost)
                    ),
                    str(self._socket),
                )
            except OSError as err:
                self._last_error = f"journal writer unavailable: {err}"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), RECONNECT_S)
                continue
            self._opened(stream)
            await lost
            self._lost()

    def reconnect_now(self) -> None:
        """Try to connect at once, not ``RECONNECT_S`` after the last failed try (the writer
        is back); nothing happens while connected."""
        self._retry.set()

    def _opened(self, stream: MessageStream) -> None:
        self._stream = stream
        self._healthy, self._last_error = True, None
        if self._subscribe:
            stream.send(Subscribe(records=self._records))
        self._connected.set()
        log.info("journal_writer_connected", socket=str(self._socket))
        if self._on_connection is not None:
            self._on_connection(True)

    def _lost(self) -> None:
        self._stream = None
        self._healthy, self._last_error = False, "journal writer connection lost"
        self._send_batch()  # submitted in this turn: failed now
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            _resolve(waiter, JournalWriteError(self._last_error))
        if not self._closed:
            log.warning("journal_writer_lost", socket=str(self._socket), failed=len(waiting))
        if self._on_connection is not None:
            self._on_connection(False)

    def _received(self, message: Message) -> None:
        if isinstance(message, Head):
            self._head(message)
            return
        if isinstance(message, Committed):
            self._tail.keep([record_from_stored(row) for row in message.rows])
            for journal_seq in message.repeated:
                self._tail.forget(journal_seq)
            return
        if not isinstance(message, Appended | Saved | Pruned | Failed):
            return
        waiter = self._waiting.pop(message.id, None)
        if waiter is None:
            return
        if isinstance(message, Failed):
            _resolve(waiter, error_of(message))
        else:
            _resolve(waiter, _result(message))

    def _head(self, head: Head) -> None:
        self._heard.set()
        self._healthy, self._last_error = head.healthy, head.error
        if head.journal_seq > self._last_seq:
            self._last_seq = head.journal_seq
            self._advanced.set()
            self._advanced = asyncio.Event()

    # -- reads -----------------------------------------------------------------------

    async def read_after(self, journal_seq: int, *, limit: int = 500) -> list[Record]:
        """Up to ``limit`` records after ``journal_seq``, in order (shared: do not change)."""
        recent = self._tail.after(journal_seq, limit, self._last_seq)
        if recent is not None:
            return recent
        rows = await self._read(_READ_AFTER, (journal_seq, limit))
        records = [record_from_row(row) for row in rows]
        self._tail.keep(records)
        return records

    async def wait_for(self, journal_seq: int) -> None:
        """Return once ``last_seq > journal_seq``; raise ``JournalClosedError`` on close."""
        while self._last_seq <= journal_seq:
            self._ensure_open()
            await self._advanced.wait()

    async def load_cursor(self, name: str) -> int:
        rows = await self._read(_LOAD_CURSOR, (name,))
        return int(rows[0][0]) if rows else 0

    async def _read(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self._ensure_open()
        return await self._loop.run_in_executor(self._reader, self._fetch, sql, params)

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._reader_conn is None:
            self._reader_conn = connect_reader(self._path)
        return self._reader_conn.execute(sql, params).fetchall()

    # -- closing -----------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise JournalClosedError(f"journal {self._path} is closed")

    async def close(self) -> None:
        """Fail what is unanswered, drop the connection and the reader. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._advanced.set()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._stream is not None:
            self._stream.close()
        self._lost()
        await self._loop.run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown(wait=False)

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            self._reader_conn.close()
            self._reader_conn = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _checked(record: NewRecord) -> NewRecord:
    """What ``Journal`` refuses before the writer sees it, refused here too."""
    if record.received_at.tzinfo is None:
        raise InvalidRecordError("received_at must carry a time zone")
    if not all(map(isinstance, record.body, itertools.repeat(str))):  # no frame per key
        raise InvalidRecordError("record cannot be stored: body keys must be strings")
    return record


class _Split:
    """The waiter of one ``AppendEncoded``: each submitter gets its own records' results."""

    def __init__(self, batch: list[tuple[list[msgspec.Raw], _Waiter]]) -> None:
        self._batch = batch

    def __call__(self, result: Any) -> None:
        if isinstance(result, JournalError):
            for _, waiter in self._batch:
                _resolve(waiter, result)
            return
        start = 0
        for records, waiter in self._batch:
            count = len(records)
            resolve(waiter, result[start : start + count], failed=False, logger=log)
            start += count


def _result(message: Appended | Saved | Pruned) -> object:
    if isinstance(message, Appended):
        return message.results
    return message.report if isinstance(message, Pruned) else None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _resolve(waiter: _Waiter, result: Any) -> None:
    """Hand a result (or a ``JournalError``) to a future or a callback."""
    resolve(waiter, result, failed=isinstance(result, JournalError), logger=log)
