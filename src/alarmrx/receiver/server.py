"""``Receiver``: every configured address served over TCP and UDP on the same port."""

from __future__ import annotations

import asyncio
import socket

import structlog

from alarmrx.config import AccountTable, ListenAddress, ReceiverSettings
from alarmrx.receiver.handler import Clock, FrameHandler
from alarmrx.receiver.metrics import ReceiverMetrics
from alarmrx.receiver.tcp import TCPConnections
from alarmrx.receiver.udp import UDPEndpoint

log = structlog.get_logger("alarmrx.receiver")

PORT_ZERO_RETRIES = 20
UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


class Receiver:
    """Owns the listening sockets; ``start`` binds them, ``stop`` drains and closes."""

    def __init__(
        self,
        handler: FrameHandler,
        metrics: ReceiverMetrics,
        clock: Clock,
        *,
        reuse_port: bool = False,
    ) -> None:
        self.handler = handler
        self._reuse_port = reuse_port  # each worker process binds the same addresses
        self._metrics = metrics
        self._clock = clock
        self.tcp = TCPConnections(handler, metrics, clock)
        self._servers: list[asyncio.Server] = []
        self._udp: list[UDPEndpoint] = []
        self.bound: list[tuple[str, int]] = []

    async def start(self, addresses: tuple[ListenAddress, ...]) -> None:
        """Bind TCP and UDP on each address (port 0: the kernel picks one for both)."""
        for address in addresses:
            port = await self._bind(address)
            self.bound.append((address.host, port))
            log.info("listener_bound", host=address.host, port=port, transports="tcp+udp")

    async def _bind(self, address: ListenAddress) -> int:
        # With port 0 the kernel's TCP port may be taken for UDP: try a few others.
        retries = PORT_ZERO_RETRIES if address.port == 0 else 0
        while True:
            server = await asyncio.get_running_loop().create_server(
                self.tcp.protocol,
                address.host,
                address.port,
                reuse_address=True,
                reuse_port=self._reuse_port or None,
                backlog=4096,
            )
            port = _port(server)
            try:
                await self._bind_udp(address.host, port)
            except OSError:
                server.close()
                await server.wait_closed()
                if retries == 0:
                    raise
                retries -= 1
                continue
            self._servers.append(server)
            return port

    async def _bind_udp(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        endpoint = UDPEndpoint(self.handler, self._metrics, self._clock)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: endpoint, local_addr=(host, port), reuse_port=self._reuse_port or None
        )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # UDP has no flow control: a burst beyond the buffer is dropped by the kernel
            # (each drop costs that panel its retry timeout). Ask for a large buffer; the
            # kernel caps it at net.core.rmem_max.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER_BYTES)
        self._udp.append(endpoint)

    def reload(self, settings: ReceiverSettings, accounts: AccountTable) -> None:
        """New accounts and keys for the next frame; open connections stay up."""
        self.handler.reload(settings, accounts)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop accepting, finish in-flight commits and replies, close everything."""
        for server in self._servers:
            server.close()
        await asyncio.gather(
            self.tcp.drain_and_close(grace_s), *(udp.drain(grace_s) for udp in self._udp)
        )
        for server in self._servers:
            await server.wait_closed()


def _port(server: asyncio.Server) -> int:
    for sock in server.sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return int(sock.getsockname()[1])
    msg = "server has no inet socket"
    raise RuntimeError(msg)
