"""The journal writer's side of ``ipc``: one ``Journal`` served to the other processes.

Every client's appends go into the one writer thread's queue, so appends from all receiver
workers share each group commit. An answer leaves once its batch is durable. Subscribers
(the consumers, the supervisor) get a ``Head`` after each outcome that changed the chain head
or the health; the consumers also get every commit's records as stored (``Committed``), so
they never read back from SQLite what was just written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog

from alarmrx.journal.errors import JournalError
from alarmrx.journal.ipc import (
    Append,
    Appended,
    Committed,
    Head,
    Message,
    MessageStream,
    Prune,
    Pruned,
    SaveCursor,
    Saved,
    Subscribe,
    encode,
    failed,
)
from alarmrx.journal.journal import Journal
from alarmrx.journal.records import AppendResult
from alarmrx.journal.rows import StoredRow

log = structlog.get_logger("alarmrx.journal.service")


class _Client:
    """One connected process."""

    def __init__(self, service: JournalService) -> None:
        self._service = service
        self.subscribed = False
        self.records = False
        self.stream = MessageStream(self._received, self._lost)

    def _received(self, message: Message) -> None:
        journal = self._service.journal
        try:
            if isinstance(message, Append):
                journal.submit(message.records, functools.partial(self._appended, message.id))
            elif isinstance(message, SaveCursor):
                self._service.save_cursor(self, message)
            elif isinstance(message, Prune):
                self._service.prune(self, message)
            elif isinstance(message, Subscribe):
                self.subscribed, self.records = True, message.records
                self.stream.send(self._service.head())
        except JournalError as err:
            self.stream.send(failed(getattr(message, "id", 0), err))

    def _appended(self, request_id: int, result: list[AppendResult] | JournalError) -> None:
        self._service.changed()
        if isinstance(result, JournalError):
            self.stream.send(failed(request_id, result))
        else:
            self.stream.send(Appended(request_id, result))

    def _lost(self) -> None:
        self._service.clients.discard(self)


class JournalService:
    """Serves ``journal`` on a Unix socket at ``path`` until ``close``; ``on_head`` (if any)
    gets each new ``Head`` the subscribers get, on the event loop."""

    def __init__(
        self, journal: Journal, path: Path, *, on_head: Callable[[Head], None] | None = None
    ) -> None:
        self.journal = journal
        self.path = path
        self.clients: set[_Client] = set()
        self._server: asyncio.AbstractServer | None = None
        self._last: Head | None = None
        self._pending = False
        self._on_head = on_head
        self._loop = asyncio.get_running_loop()
        journal.on_commit(self._committed, keep_tail=False)

    def head(self) -> Head:
        journal = self.journal
        return Head(journal.last_seq, journal.healthy, journal.last_error)

    async def start(self) -> None:
        """Bind (replacing a stale socket file) with owner-only permissions."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await self._loop.create_unix_server(self._connected, str(self.path))
        finally:
            os.umask(old)

    def _connected(self) -> MessageStream:
        client = _Client(self)
        self.clients.add(client)
        return client.stream

    def save_cursor(self, client: _Client, message: SaveCursor) -> None:
        async def save() -> Saved:
            await self.journal.save_cursor(message.name, message.journal_seq)
            return Saved(message.id)

        self._answer(client, message.id, save())

    def prune(self, client: _Client, message: Prune) -> None:
        async def prune() -> Pruned:
            report = await self.journal.prune(before=message.before, now=message.now)
            return Pruned(message.id, report)

        self._answer(client, message.id, prune())

    def _answer(
        self, client: _Client, request_id: int, work: Coroutine[Any, Any, Saved | Pruned]
    ) -> None:
        async def answer() -> None:
            try:
                client.stream.send(await work)
            except JournalError as err:
                client.stream.send(failed(request_id, err))
            self.changed()

        task = asyncio.create_task(answer())
        task.add_done_callback(lambda t: None if t.cancelled() else t.exception())

    def _committed(self, rows: list[StoredRow], repeated: list[int]) -> None:
        """A commit: its records to the clients that follow them, encoded once.

        The ``Head`` that counts them is asked for first, so it is queued before the streams
        flush: the records, the answers and the head leave in one write to each client."""
        self.changed()
        readers = [c for c in self.clients if c.records]
        if not readers or not (rows or repeated):
            return
        data = encode(Committed(rows, repeated))
        for client in readers:
            client.stream.send_encoded(data)

    def changed(self) -> None:
        """After an outcome: tell subscribers the head and health, once per loop turn."""
        if not self._pending:
            self._pending = True
            self._loop.call_soon(self._publish_head)

    def _publish_head(self) -> None:
        self._pending = False
        head = self.head()
        if head == self._last:
            return
        self._last = head
        if self._on_head is not None:
            self._on_head(head)
        for client in self.clients:
            if client.subscribed:
                client.stream.send(head)

    async def close(self) -> None:
        """Stop accepting, answer what is queued, close every connection."""
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.stream.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
