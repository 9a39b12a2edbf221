"""A TCP proxy the test controls, to cut the path between a node and its database.

It listens on a free loopback port and forwards every connection to ``target``. ``block()``
simulates a network partition: the connections open through it are cut (both ends see them
close) and new ones are accepted and closed at once, so nothing reaches the target until
``unblock()``. It runs its own event loop in a thread, so a synchronous test (the daemon as a
subprocess) drives it with plain calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future
from typing import Any

CHUNK = 65536
STOP_TIMEOUT_S = 10.0


class Proxy:
    """Forwards ``127.0.0.1:port`` to ``target_host:target_port``; ``block``/``unblock``."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.blocked = False
        self.accepted = 0  # connections accepted (forwarded or cut at once)
        self.refused = 0  # connections accepted while blocked, and closed at once
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._serving: set[asyncio.Task[None]] = set()  # one per connection accepted

    def start(self) -> Proxy:
        """Listen (on a kernel-chosen port) and return once it accepts connections."""
        self._thread.start()
        self._call(self._listen())
        return self

    def block(self) -> None:
        """Cut every open connection and refuse new ones until ``unblock``."""
        self._call(self._block())

    def unblock(self) -> None:
        """Forward new connections again."""
        self._call(self._unblock())

    @property
    def open_connections(self) -> int:
        """Connections currently forwarded (each has two ends)."""
        return len(self._writers) // 2

    def stop(self) -> None:
        """Close the listener and every connection; end the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_S)
        self._loop.close()

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(STOP_TIMEOUT_S)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _block(self) -> None:
        self.blocked = True
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _unblock(self) -> None:
        self.blocked = False

    async def _close(self) -> None:
        await self._block()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        self.accepted += 1
        if self.blocked:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        if self.blocked:  # blocked while connecting
            upstream_writer.transport.abort()
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(
            self._pump(reader, upstream_writer, writer),
            self._pump(upstream_reader, writer, upstream_writer),
        )

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, other: asyncio.StreamWriter
    ) -> None:
        """Copy ``source`` to ``sink`` until either end closes; then close both."""
        with contextlib.suppress(OSError):
            while data := await source.read(CHUNK):
                sink.write(data)
                await sink.drain()
        for end in (sink, other):
            self._writers.discard(end)
            end.transport.abort()
