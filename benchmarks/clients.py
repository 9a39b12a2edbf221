"""One simulated panel's link over TCP or UDP: frames out, replies handed to a listener.

asyncio protocols rather than streams, and callbacks rather than a future per frame, to keep
the generator's own cost per frame low. TCP replies are split with alarmrx's ``Framer``; a
UDP datagram is one reply.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

from alarmrx.protocols import Framer, ProtocolError


class Listener(Protocol):
    """Who a link hands its replies and its troubles to."""

    def on_reply(self, reply: bytes) -> None:
        """One reply frame arrived."""

    def on_lost(self, exc: BaseException) -> None:
        """The connection closed, or (UDP) an error came back."""


class _Waiter:
    """A one-shot listener: the reply to one frame, as a future."""

    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_reply(self, reply: bytes) -> None:
        if not self.reply.done():
            self.reply.set_result(reply)

    def on_lost(self, exc: BaseException) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


class _Nobody:
    def on_reply(self, reply: bytes) -> None:
        del reply

    def on_lost(self, exc: BaseException) -> None:
        del exc


class Link:
    """A connected transport; replies go to ``listener``."""

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.listener: Listener = _Nobody()

    def send(self, frame: bytes) -> None:
        """Send one frame; raises ``ConnectionError`` when the link is down."""
        raise NotImplementedError

    async def exchange(self, frame: bytes) -> bytes:
        """Send ``frame`` and return the next reply; the caller bounds the wait."""
        waiter = _Waiter()
        self.listener = waiter
        self.send(frame)
        return await waiter.reply

    def close(self) -> None:
        """Close the transport (idempotent); its listener hears nothing more."""
        self.listener = _Nobody()
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
                continue  # an oversized reply is dropped; the frame's reply times out
            if frame is None:
                return
            self.listener.on_reply(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.listener.on_lost(ConnectionError("the receiver closed the connection"))

    def send(self, frame: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionError("not connected")
        cast(asyncio.WriteTransport, self.transport).write(frame)


class UDPLink(Link, asyncio.DatagramProtocol):
    """A connected UDP socket: one datagram out, one back."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.listener.on_reply(data)

    def error_received(self, exc: Exception) -> None:
        self.listener.on_lost(exc)  # ICMP port unreachable: nobody listens

    def send(self, frame: bytes) -> None:
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
