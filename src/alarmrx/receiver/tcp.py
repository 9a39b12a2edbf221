"""The TCP adapter: persistent connections as ``asyncio.Protocol`` callbacks.

Per connection: bytes -> framer -> handler -> replies, written in the order the frames came.
The handler answers some frames at once (a NULL link test, a rejected frame) and the others
when their commit is back, so each frame takes a place in the connection's queue of replies
(``replies.ReplyQueue``, sans-IO) and a reply goes out once every frame before it has had its
own. A frame costs no task, no
future and no timer: with hundreds of connections that bookkeeping, not the work, was most
of the receiver's CPU.

A panel may close first or keep the line open; with ``linger_s`` the receiver hangs up that
long after its last reply (panels that expect the receiver to close, e.g. Ajax in some
modes). Reading pauses while a connection has ``MAX_WAITING`` frames awaiting answers, while
its pipelined frames are being worked through ``FRAMES_PER_TURN`` at a time (so one peer
cannot hold up the others), and while its replies are not being read; a peer that leaves
``WRITE_HIGH_WATER`` bytes of replies unread for ``WRITE_TIMEOUT_S`` is dropped.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import cast

import structlog

from alarmrx.protocols import Framer, ProtocolError
from alarmrx.receiver.handler import REPLY_TEXT, Clock, FrameHandler, Outcome, limited
from alarmrx.receiver.limits import ConnectionLimiter
from alarmrx.receiver.metrics import ReceiverMetrics
from alarmrx.receiver.replies import Place, ReplyQueue

log = structlog.get_logger("alarmrx.receiver")

WRITE_TIMEOUT_S = 10.0
# Replies are tens of bytes: only a peer that stopped reading builds a buffer this large.
WRITE_HIGH_WATER = 16384
MAX_WAITING = 64  # frames of one connection awaiting their answer
FRAMES_PER_TURN = 16  # frames taken from one read before the other connections get a turn


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

    def restart(self) -> None:
        """Count the silence from now, after ``on_idle`` decided not to close."""
        self.touch()
        self._handle.cancel()
        self._handle = self._loop.call_later(self._idle_s, self._check)

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
    """Creates a protocol per accepted connection; tracks them for limits and shutdown."""

    def __init__(self, handler: FrameHandler, metrics: ReceiverMetrics, clock: Clock) -> None:
        self.handler = handler
        self.metrics = metrics
        self.clock = clock
        settings = handler.settings
        self._limiter = ConnectionLimiter(
            total=settings.max_connections, per_peer=settings.max_connections_per_ip
        )
        self._connections: set[TCPConnection] = set()
        self._busy = 0  # connections with frames awaiting their answer
        self._drained: asyncio.Event | None = None
        self.closing = False

    @property
    def open(self) -> int:
        """Connections currently open."""
        return self._limiter.open

    def protocol(self) -> TCPConnection:
        """The ``loop.create_server`` factory."""
        return TCPConnection(self)

    def admit(self, connection: TCPConnection, peer_ip: str) -> bool:
        """Take a connection slot, or count and log why not."""
        refused = "shutting_down" if self.closing else self._limiter.acquire(peer_ip)
        if refused is not None:
            self.metrics.limit_hit(refused)
            limited.warning(refused, "limit_hit", limit=refused, peer=peer_ip, transport="tcp")
            return False
        self._connections.add(connection)
        self.metrics.connections(self._limiter.open)
        return True

    def gone(self, connection: TCPConnection, peer_ip: str) -> None:
        """An admitted connection closed."""
        self._connections.discard(connection)
        self._limiter.release(peer_ip)
        self.metrics.connections(self._limiter.open)

    def busy(self, busy: bool) -> None:
        """A connection started (True) or stopped (False) waiting for answers."""
        self._busy += 1 if busy else -1
        if self._busy == 0 and self._drained is not None:
            self._drained.set()

    async def drain_and_close(self, grace_s: float) -> None:
        """Stop reading new data; let in-flight frames commit and get their replies."""
        self.closing = True
        for connection in list(self._connections):
            connection.stop_reading()
        if self._busy:
            self._drained = asyncio.Event()
            try:
                await asyncio.wait_for(self._drained.wait(), grace_s)
            except TimeoutError:
                log.warning("shutdown_grace_expired", waiting=self._busy, transport="tcp")
        for connection in list(self._connections):
            connection.close()


class TCPConnection(asyncio.Protocol):
    """One panel's connection, from accept to close."""

    def __init__(self, owner: TCPConnections) -> None:
        self._owner = owner
        self._handler = owner.handler
        self._m = owner.metrics
        self._clock = owner.clock
        self._transport: asyncio.Transport | None = None
        self._framer = Framer(max_frame_bytes=owner.handler.settings.max_frame_bytes)
        self._places: ReplyQueue[Outcome] = ReplyQueue()
        self._paused: set[str] = set()  # why reading is paused: backlog, writing, closing
        self._turn: asyncio.Handle | None = None  # the next FRAMES_PER_TURN, when scheduled
        self._idle: IdleTimer | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._received_at = owner.clock()
        self._eof = False
        self.peer = "?"
        self._peer_ip = "?"

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Admit the connection (or refuse it at once) and start its idle timer."""
        transport = cast("asyncio.Transport", transport)
        host, port = (transport.get_extra_info("peername") or ("?", 0))[:2]
        self._peer_ip, self.peer = str(host), f"{host}:{port}"
        if not self._owner.admit(self, self._peer_ip):
            transport.abort()
            return
        self._transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._idle = IdleTimer(self._handler.settings.idle_timeout_s, self._on_idle)

    def data_received(self, data: bytes) -> None:
        """Take every frame the bytes complete."""
        if self._transport is None:
            return
        assert self._idle is not None  # noqa: S101 - set with the transport
        self._idle.touch()
        self._received_at = self._clock()
        self._framer.feed(data)
        self._take_frames()

    def eof_received(self) -> bool:
        """The panel closed its side: stay half-open until every reply is out."""
        self._eof = True
        return bool(self._places)

    def pause_writing(self) -> None:
        """The peer is not reading its replies: stop reading its frames, give it a while."""
        self._pause("writing")
        self._write_timer = asyncio.get_running_loop().call_later(
            WRITE_TIMEOUT_S, self._write_stuck
        )

    def resume_writing(self) -> None:
        """The peer reads again."""
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._resume("writing")

    def connection_lost(self, exc: Exception | None) -> None:
        """Release the slot and the timers; answers still to come find nobody to write to."""
        if self._transport is None:
            return
        self._transport = None
        if self._idle is not None:
            self._idle.cancel()
        for handle in (self._write_timer, self._turn):
            if handle is not None:
                handle.cancel()
        if self._places:
            self._places.clear()
            self._owner.busy(False)
        self._owner.gone(self, self._peer_ip)

    # shutdown

    def stop_reading(self) -> None:
        """Shutdown: no new data; frames already read still get their replies."""
        self._pause("closing")

    def close(self) -> None:
        """Shutdown: hang up (what was written is still sent)."""
        if self._transport is not None:
            self._transport.close()

    # frames

    def _take_frames(self) -> None:
        self._turn = None
        if self._transport is None:
            return
        try:
            budget = FRAMES_PER_TURN
            while budget and len(self._places) < MAX_WAITING:
                frame = self._next_frame()
                if frame is None:
                    self._resume("backlog")
                    return
                budget -= 1
                self._frame(frame)
            self._pause("backlog")
            if not budget and self._transport is not None:
                self._turn = asyncio.get_running_loop().call_soon(self._take_frames)
        except Exception:  # protocol callback: log, count, close only this connection
            log.exception("connection_failed", peer=self.peer, transport="tcp")
            self._m.internal_error("tcp_connection")
            if self._transport is not None:
                self._transport.abort()

    def _next_frame(self) -> bytes | None:
        while True:
            try:
                return self._framer.next_frame()
            except ProtocolError as err:  # too long: answered in its turn, like any frame
                place = self._place()
                self._answered(
                    place,
                    self._handler.oversized(
                        err, peer=self.peer, transport="tcp", received_at=place.received_at
                    ),
                )

    def _frame(self, frame: bytes) -> None:
        self._m.frame_received("tcp")
        if not self._handler.admitted(self.peer, self._peer_ip, "tcp"):
            return
        place = self._place()
        self._handler.receive(
            frame,
            peer=self.peer,
            transport="tcp",
            received_at=place.received_at,
            answer=functools.partial(self._answered, place),
        )

    def _place(self) -> Place[Outcome]:
        """A place in the queue of replies for the frame just read."""
        if not self._places:
            self._owner.busy(True)
        return self._places.take(self._received_at)

    def _answered(self, place: Place[Outcome], outcome: Outcome) -> None:
        """A frame has its answer: write every reply that is now next in line."""
        due, transport = self._places.answered(place, outcome), self._transport
        if not due or transport is None:
            return
        replied = False
        for sent in due:
            ready = cast("Outcome", sent.outcome)
            if ready.reply is not None:
                transport.write(ready.reply)
                self._m.replied("tcp", REPLY_TEXT[ready.kind], sent.received_at, self._clock())
                replied = True
        if replied:
            self._replied()
        if not self._places:
            self._owner.busy(False)
            if self._eof:
                transport.close()
        if "backlog" in self._paused and self._turn is None:
            self._turn = asyncio.get_running_loop().call_soon(self._take_frames)

    def _replied(self) -> None:
        # After a reply: hang up after linger_s (panels that wait for the receiver to
        # close), else wait the idle timeout for the next frame.
        assert self._idle is not None  # noqa: S101 - set with the transport
        settings = self._handler.settings
        self._idle.touch()
        self._idle.idle_s = settings.linger_s or settings.idle_timeout_s

    # pauses and timeouts

    def _pause(self, reason: str) -> None:
        if self._transport is None or reason in self._paused:
            return
        if not self._paused:
            self._transport.pause_reading()
        self._paused.add(reason)

    def _resume(self, reason: str) -> None:
        if reason not in self._paused:
            return
        self._paused.discard(reason)
        if not self._paused and self._transport is not None:
            self._transport.resume_reading()

    def _on_idle(self) -> None:
        assert self._idle is not None  # noqa: S101 - set with the transport
        if self._places:  # waiting for a commit is not silence
            self._idle.restart()
            return
        self._m.limit_hit("idle_timeout")
        log.debug("connection_idle_closed", peer=self.peer, transport="tcp")
        if self._transport is not None:
            self._transport.close()

    def _write_stuck(self) -> None:
        self._write_timer = None
        log.debug("connection_write_stuck", peer=self.peer, transport="tcp")
        if self._transport is not None:
            self._transport.abort()
