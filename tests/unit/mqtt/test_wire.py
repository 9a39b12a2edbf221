"""The publisher's connection without a broker: a listener on 127.0.0.1 that takes the TCP
connection and never answers, and a port nobody listens on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from tests.mosquitto import free_port

from alarmrx.config import MQTTSettings
from alarmrx.mqtt.broker import BrokerAddress
from alarmrx.mqtt.outbox import Outgoing
from alarmrx.mqtt.wire import Connection, DisconnectedError, Greeting, paho_client

WILL = Outgoing("rx/status", b'{"status":"offline"}', retain=True)
SETTINGS = MQTTSettings(url="mqtt://127.0.0.1", username="u", password="p", protocol="5")


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A listener that accepts connections (the kernel does) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener


def connection(port: int) -> tuple[Connection, BrokerAddress]:
    address = BrokerAddress("127.0.0.1", port, tls=False)
    return Connection(paho_client(address, SETTINGS, Greeting("unit", WILL))), address


def _connect_packet(listener: socket.socket) -> tuple[bytes, bytes]:
    """What the client sent, and then what it sent on close (b"" for a closed socket)."""
    peer, _ = listener.accept()
    with peer:
        peer.settimeout(5)
        first = peer.recv(4096)
        return first, peer.recv(4096)


async def test_no_connack_in_time_is_a_timeout_and_the_socket_is_closed(
    silent: socket.socket,
) -> None:
    conn, address = connection(silent.getsockname()[1])
    with pytest.raises(TimeoutError):
        await conn.open(address, 5, 0.2)
    connect, after = await asyncio.to_thread(_connect_packet, silent)
    assert connect[0] == 0x10  # CONNECT
    assert b"MQTT" in connect and b"unit" in connect and WILL.payload in connect
    assert after == b""  # closed, not left half open
    with pytest.raises(DisconnectedError):
        conn.publish(Outgoing("t", b"{}"), 1)


async def test_nobody_listening_is_an_os_error() -> None:
    conn, address = connection(free_port())
    with pytest.raises(ConnectionRefusedError):
        await conn.open(address, 5, 1.0)


async def test_a_cancelled_connect_closes_its_socket(silent: socket.socket) -> None:
    conn, address = connection(silent.getsockname()[1])
    opening = asyncio.create_task(conn.open(address, 5, 10.0))
    peer, _ = await asyncio.to_thread(silent.accept)  # the TCP connection is there
    with peer:
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        peer.settimeout(5)
        received = b""
        while chunk := await asyncio.to_thread(peer.recv, 4096):
            received += chunk
    assert received[:1] in (b"", b"\x10")  # at most the CONNECT, then closed
