"""The TCP adapter: persistent connections, several frames per read, a deadline on every wait.

Per connection: framer -> handler -> reply, one frame at a time in arrival order. A panel
may close first or keep the line open; with ``linger_s`` the receiver hangs up that long
after its last reply (panels that expect the receiver to close, e.g. Ajax in some modes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime

import structlog

from alarmrx.protocols import Framer
from alarmrx.protocols.errors import FrameTooLongError
from alarmrx.receiver.handler import Clock, FrameHandler, limited
from alarmrx.receiver.limits import ConnectionLimiter
from alarmrx.receiver.metrics import ReceiverMetrics

log = structlog.get_logger("alarmrx.receiver")

READ_CHUNK = 65536
WRITE_TIMEOUT_S = 10.0
# Replies are tens of bytes: waiting for the kernel to take them (drain) on every frame costs
# more than it protects; only a peer that stopped reading builds a buffer this large.
WRITE_HIGH_WATER = 16384


class IdleTimer:
    """Calls ``on_idle`` once no ``touch`` came for ``idle_s`` seconds.

    One timer per idle period rather than a deadline per read: a busy connection touches a
    float, and the timer, when it fires early, re-arms for the time that is left.
    """

    __slots__ = ("_handle", "_idle_s", "_last", "_loop", "_on_idle")

    def __init__(self, idle_s: float, on_idle: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle_s = idle_s
        self._on_idle = on_idle
        self._last = self._loop.time()
        self._handle = self._loop.call_later(idle_s, self._check)

    @property
    def idle_s(self) -> float:
        """The allowed silence."""
        return self._idle_s

    @idle_s.setter
    def idle_s(self, value: float) -> None:
        if value != self._idle_s:
            self._idle_s = value
            self._handle.cancel()
            self._handle = self._loop.call_later(max(0.0, self._left()), self._check)

    def _left(self) -> float:
        return self._last + self._idle_s - self._loop.time()

    def touch(self) -> None:
        """Data arrived."""
        self._last = self._loop.time()

    def cancel(self) -> None:
        """The connection is done."""
        self._handle.cancel()

    def _check(self) -> None:
        left = self._left()
        if left > 0:
            self._handle = self._loop.call_later(left, self._check)
        else:
            self._on_idle()


class TCPConnections:
    """Serves TCP connections for ``asyncio.start_server`` and tracks them for shutdown."""

    def __init__(self, handler: FrameHandler, metrics: ReceiverMetrics, clock: Clock) -> None:
        self._handler = handler
        self._m = metrics
        self._clock = clock
        settings = handler.settings
        self._limiter = ConnectionLimiter(
            total=settings.max_connections, per_peer=settings.max_connections_per_ip
        )
        self._readers: set[asyncio.StreamReader] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    @property
    def open(self) -> int:
        """Connections currently open."""
        return self._limiter.open

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, from accept to close."""
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer_ip = str(peername[0])
        refused = None if not self.closing else "shutting_down"
        refused = refused or self._limiter.acquire(peer_ip)
        if refused is not None:
            self._m.limit_hit(refused)
            limited.warning(refused, "limit_hit", limit=refused, peer=peer_ip, transport="tcp")
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - asyncio runs this as a task
        self._tasks.add(task)
        self._readers.add(reader)
        self._m.connections(self._limiter.open)
        peer = f"{peer_ip}:{peername[1]}"
        try:
            await self._loop(reader, writer, peer, peer_ip)
        except (ConnectionError, TimeoutError):
            pass
        except Exception:  # task root: log, count, close only this connection
            log.exception("connection_failed", peer=peer, transport="tcp")
            self._m.internal_error("tcp_connection")
        finally:
            self._readers.discard(reader)
            self._tasks.discard(task)
            self._limiter.release(peer_ip)
            self._m.connections(self._limiter.open)
            writer.transport.abort() if self.closing else writer.close()

    async def _loop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, peer_ip: str
    ) -> None:
        settings = self._handler.settings
        framer = Framer(max_frame_bytes=settings.max_frame_bytes)
        idle = IdleTimer(settings.idle_timeout_s, lambda: self._idle(writer, peer))
        try:
            while data := await reader.read(READ_CHUNK):
                idle.touch()
                received_at = self._clock()
                framer.feed(data)
                if await self._frames(framer, writer, peer, peer_ip, received_at):
                    # After a reply: hang up after linger_s (panels that wait for the
                    # receiver to close), else wait the idle timeout for the next frame.
                    idle.idle_s = settings.linger_s or settings.idle_timeout_s
        finally:
            idle.cancel()

    def _idle(self, writer: asyncio.StreamWriter, peer: str) -> None:
        self._m.limit_hit("idle_timeout")
        log.debug("connection_idle_closed", peer=peer, transport="tcp")
        writer.transport.close()

    async def _frames(
        self,
        framer: Framer,
        writer: asyncio.StreamWriter,
        peer: str,
        peer_ip: str,
        received_at: datetime,
    ) -> bool:
        replied = False
        handled = 0
        while True:
            if handled:
                # One frame per turn of the loop: a peer that pipelines hundreds of frames in
                # one read must not hold up every other connection until it is through.
                await asyncio.sleep(0)
            try:
                frame = framer.next_frame()
            except FrameTooLongError as err:
                self._m.limit_hit("frame_bytes")
                limited.warning("frame_bytes", "limit_hit", limit="frame_bytes", peer=peer,
                                detail=err.detail, transport="tcp")  # fmt: skip
                self._m.rejected("tcp", "frame_too_long")
                continue
            if frame is None:
                return replied
            handled += 1
            self._m.frame_received("tcp")
            if not self._handler.allow(peer_ip):
                self._m.limit_hit("peer_rate")
                limited.warning(("peer_rate", peer_ip), "limit_hit", limit="peer_rate",
                                peer=peer, transport="tcp")  # fmt: skip
                continue
            outcome = await self._handler.handle(
                frame, peer=peer, transport="tcp", received_at=received_at
            )
            if outcome.reply is not None:
                await self._write(writer, outcome.reply)
                self._m.replied("tcp", outcome.kind.value, received_at, self._clock())
                replied = True

    async def _write(self, writer: asyncio.StreamWriter, reply: bytes) -> None:
        """Write a reply; wait (with a deadline) only when the peer is not reading."""
        writer.write(reply)
        if writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await writer.drain()

    async def drain_and_close(self, grace_s: float) -> None:
        """Stop reading new data; let in-flight frames commit and get their replies."""
        self.closing = True
        for reader in list(self._readers):
            reader.feed_eof()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
