"""One simulated panel's link: send a frame, wait for the one reply, over TCP or UDP.

asyncio protocols rather than streams, to keep the generator's own cost per frame low.
TCP replies are split with alarmrx's ``Framer``; a UDP datagram is one reply.
"""

from __future__ import annotations

import asyncio
from typing import cast

from alarmrx.protocols import Framer, ProtocolError


class Link:
    """A connected transport with at most one exchange in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self._waiter: asyncio.Future[bytes] | None = None
        self.stray_replies = 0  # replies that arrived with no frame waiting (late ones)

    def _deliver(self, reply: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            self.stray_replies += 1
            return
        waiter.set_result(reply)

    def _fail(self, exc: BaseException) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    async def exchange(self, frame: bytes) -> bytes:
        """Send ``frame`` and return the reply; the caller bounds the wait."""
        self._waiter = asyncio.get_running_loop().create_future()
        self._send(frame)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def _send(self, frame: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Close the transport (idempotent)."""
        if self.transport is not None:
            self.transport.close()


class TCPLink(Link, asyncio.Protocol):
    """A persistent TCP connection, as a panel keeps one to its receiver."""

    def __init__(self) -> None:
        super().__init__()
        self._framer = Framer()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._framer.feed(data)
        while True:
            try:
                frame = self._framer.next_frame()
            except ProtocolError:
                continue  # an oversized reply is dropped; the waiter times out
            if frame is None:
                return
            self._deliver(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError("the receiver closed the connection"))

    def _send(self, frame: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionError("not connected")
        cast(asyncio.WriteTransport, self.transport).write(frame)


class UDPLink(Link, asyncio.DatagramProtocol):
    """A connected UDP socket: one datagram out, one back."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._deliver(data)

    def error_received(self, exc: Exception) -> None:
        self._fail(exc)  # ICMP port unreachable: nobody listens

    def _send(self, frame: bytes) -> None:
        if self.transport is None:
            raise ConnectionError("not connected")
        # the selector loop's datagram transport does not subclass DatagramTransport
        cast(asyncio.DatagramTransport, self.transport).sendto(frame)


async def open_link(transport: str, host: str, port: int, *, source: str | None = None) -> Link:
    """Connect one link; ``source`` picks the local address (spreads 20 000+ connections)."""
    loop = asyncio.get_running_loop()
    local = None if source is None else (source, 0)
    if transport == "tcp":
        _, tcp = await loop.create_connection(TCPLink, host, port, local_addr=local)
        return tcp
    _, udp = await loop.create_datagram_endpoint(
        UDPLink, remote_addr=(host, port), local_addr=local
    )
    return udp
