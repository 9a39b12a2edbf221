"""A receiver that does nothing but frame and acknowledge: the harness's own ceiling.

It splits the stream into ``LF … CR`` frames, copies the sequence and addressing from the
header, and answers a plain ``ACK``: no CRC check, no decryption, no journal. Run with the
project's virtualenv: ``python benchmarks/peers/stub_receiver.py --port 12128 --transport tcp``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import socket
from collections.abc import Coroutine
from typing import cast

from alarmrx.protocols import Framer, ProtocolError, encode_frame

UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024  # as alarmrx's receiver/server.py
# The header after the length field: "token"seq then R/L/# addressing up to "[".
_HEADER = re.compile(rb'"\*?[^"]*"([0-9]{4})([^\[]*)\[')


def ack_for(frame: bytes) -> bytes | None:
    """A plain ACK echoing the frame's sequence and addressing; None if it has no header."""
    match = _HEADER.search(frame, 9)
    if match is None:
        return None
    sequence, addressing = match[1].decode("ascii"), match[2].decode("ascii", "replace")
    return encode_frame(f'"ACK"{sequence}{addressing}[]')


class StreamStub(asyncio.Protocol):
    """One TCP connection: frame, acknowledge."""

    def __init__(self) -> None:
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.framer.feed(data)
        while True:
            try:
                frame = self.framer.next_frame()
            except ProtocolError:
                continue
            if frame is None or self.transport is None:
                return
            reply = ack_for(frame)
            if reply is not None:
                self.transport.write(reply)


class DatagramStub(asyncio.DatagramProtocol):
    """UDP: each datagram is one frame."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # the selector loop's datagram transport does not subclass DatagramTransport
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = ack_for(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def serve(host: str, port: int, transport: str) -> None:
    """Serve until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if transport == "tcp":
        server = await loop.create_server(StreamStub, host, port, backlog=4096)
        async with server:
            await stop.wait()
    else:
        udp, _ = await loop.create_datagram_endpoint(DatagramStub, local_addr=(host, port))
        sock = udp.get_extra_info("socket")
        if sock is not None:  # the buffer alarmrx asks for: a burst beyond it is dropped
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER_BYTES)
        await stop.wait()
        udp.close()


def main() -> None:
    """Command line: ``--host``, ``--port``, ``--transport tcp|udp``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=("tcp", "udp"), default="tcp")
    args = parser.parse_args()
    _run(serve(args.host, args.port, args.transport))


def _run(main: Coroutine[None, None, None]) -> None:
    """On uvloop when installed, as alarmrx and the load generator run."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


if __name__ == "__main__":
    main()
