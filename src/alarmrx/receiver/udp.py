"""The UDP adapter: one datagram is one frame candidate; the reply goes to its source.

Datagrams are handled concurrently (each answered when its own commit is back); at most
``MAX_IN_FLIGHT`` at once — beyond that a datagram is dropped unanswered and counted, and
the panel retries as it would after any loss.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any, TypeGuard, cast

import structlog

from alarmrx.protocols import Framer, ProtocolError, Quirk
from alarmrx.receiver.handler import Clock, FrameHandler, Outcome, limited
from alarmrx.receiver.metrics import ReceiverMetrics

log = structlog.get_logger("alarmrx.receiver")

MAX_IN_FLIGHT = 10_000


class UDPEndpoint(asyncio.DatagramProtocol):
    """``loop.create_datagram_endpoint`` protocol serving DC-09 over UDP."""

    def __init__(self, handler: FrameHandler, metrics: ReceiverMetrics, clock: Clock) -> None:
        self._handler = handler
        self._m = metrics
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self._in_flight = 0
        self._drained: asyncio.Event | None = None  # set once closing and nothing in flight
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport for replies."""
        self._transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """Handle one datagram, within the in-flight bound."""
        if self.closing or self._in_flight >= MAX_IN_FLIGHT:
            self._m.limit_hit("udp_in_flight")
            limited.warning("udp_in_flight", "limit_hit", limit="udp_in_flight", transport="udp")
            return
        received_at = self._clock()
        peer_ip = str(addr[0])
        peer = f"{peer_ip}:{addr[1]}"
        answered = counted = False

        def answer(outcome: Outcome) -> None:
            nonlocal answered
            answered = True
            self._answer(addr, received_at, outcome)

        try:
            self._m.frame_received("udp")
            framer = Framer(max_frame_bytes=self._handler.settings.max_frame_bytes)
            framer.feed(data)
            try:
                frame = framer.next_frame(final=True)  # the datagram is all there is
            except ProtocolError as err:  # too long: answered like any corrupt frame
                oversized = self._handler.oversized(
                    err, peer=peer, transport="udp", received_at=received_at
                )
                self._send(addr, received_at, oversized)
                return
            if not self._framed(frame, framer) or not self._handler.admitted(peer, peer_ip, "udp"):
                return
            self._in_flight += 1
            counted = True
            self._handler.receive(
                frame, peer=peer, transport="udp", received_at=received_at, answer=answer
            )
        except Exception:  # protocol callback: one datagram's bug must not stop the endpoint
            log.exception("datagram_failed", peer=peer_ip, transport="udp")
            self._m.internal_error("udp_datagram")
            if counted and not answered:  # never to be answered: no longer in flight
                self._in_flight -= 1

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (a panel gone away): nothing to do but note it."""
        log.debug("udp_error_received", error=str(exc), transport="udp")

    def _answer(self, addr: tuple[str | Any, int], received_at: datetime, outcome: Outcome) -> None:
        self._in_flight -= 1
        if self._in_flight == 0 and self._drained is not None:
            self._drained.set()
        self._send(addr, received_at, outcome)

    def _send(self, addr: tuple[str | Any, int], received_at: datetime, outcome: Outcome) -> None:
        if outcome.reply is not None and self._transport is not None:
            self._transport.sendto(outcome.reply, addr)
            self._m.replied("udp", outcome.kind.value, received_at, self._clock())

    def _framed(self, frame: bytes | None, framer: Framer) -> TypeGuard[bytes]:
        """Whether the datagram held a frame; one without is counted as a framing reject."""
        if frame is None:
            self._m.rejected("udp", "framing")
            return False
        if framer.buffered or framer.discarded_bytes:
            self._m.quirk_seen(Quirk.TRAILING_BYTES.value)
        return True

    async def drain(self, grace_s: float) -> None:
        """Stop taking datagrams; let in-flight ones commit and get their replies."""
        self.closing = True
        if self._in_flight:
            self._drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), grace_s)
        if self._transport is not None:
            self._transport.close()
