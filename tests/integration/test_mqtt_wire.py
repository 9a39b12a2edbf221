"""The publisher's connection (paho-mqtt's public API under the asyncio loop) against a real
mosquitto: a pipelined burst arrives in order and every PUBACK comes back once, a refused
CONNACK and a dropped broker are told apart, and a clean close sends no will."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.mosquitto import Mosquitto, Subscriber

from alarmrx.config import MQTTSettings
from alarmrx.mqtt.broker import parse_url
from alarmrx.mqtt.outbox import Outgoing
from alarmrx.mqtt.publish import json_properties
from alarmrx.mqtt.wire import (
    Connection,
    ConnectRefusedError,
    DisconnectedError,
    Greeting,
    paho_client,
)

pytestmark = pytest.mark.integration

COUNT = 600  # several reads' and writes' worth
WILL = Outgoing("wire/status", b'{"status":"offline"}', retain=True)


@contextlib.asynccontextmanager
async def connected(broker: Mosquitto, protocol: str = "5") -> AsyncIterator[Connection]:
    settings = MQTTSettings(url=broker.url, protocol=protocol, keepalive_s=5)  # type: ignore[arg-type]
    address = parse_url(broker.url)
    connection = Connection(paho_client(address, settings, Greeting("wire-test", WILL)))
    await connection.open(address, 5, 5.0)
    async with connection:
        yield connection


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_burst_arrives_in_order_and_is_acknowledged_once_each(
    mosquitto: Mosquitto, protocol: str
) -> None:
    properties = json_properties() if protocol == "5" else None
    async with (
        Subscriber(mosquitto.port, "burst/#") as subscriber,
        connected(mosquitto, protocol) as connection,
    ):
        acked: list[int] = []
        all_acked = asyncio.Event()

        def on_ack(mid: int, refusal: object) -> None:
            assert refusal is None
            acked.append(mid)
            if len(acked) == COUNT:
                all_acked.set()

        connection.on_ack = on_ack
        sent = [
            connection.publish(Outgoing(f"burst/{n % 7}", b'{"n":%d}' % n), 1, properties)
            for n in range(COUNT)
        ]
        async with asyncio.timeout(15):
            await all_acked.wait()
        await subscriber.wait_until(lambda s: len(s.messages) >= COUNT)
    assert sorted(acked) == sorted(sent)
    assert len(set(sent)) == COUNT
    assert [d["n"] for d in subscriber.decoded] == list(range(COUNT))


async def test_a_subscription_delivers_and_a_publication_is_awaited(mosquitto: Mosquitto) -> None:
    async with connected(mosquitto) as connection:
        arrived: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        connection.on_message = lambda m: arrived.put_nowait((m.topic, m.payload))
        (granted,) = await connection.subscribe("echo/+", 1)
        assert not granted.is_failure
        assert await connection.publish_acked(Outgoing("echo/1", b"{}"), 1) is None
        async with asyncio.timeout(5):
            assert await arrived.get() == ("echo/1", b"{}")


async def test_a_refused_connection_is_told_from_an_unreachable_broker(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "closed", anonymous=False)
    broker.start()
    try:
        with pytest.raises(ConnectRefusedError, match="refused"):
            async with connected(broker):
                pass
    finally:
        broker.kill()
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the port any more
        async with connected(broker):
            pass


async def test_a_killed_broker_ends_the_connection_and_what_waits_on_it(
    tmp_path: Path,
) -> None:
    broker = Mosquitto(tmp_path / "dies")
    broker.start()
    try:
        async with connected(broker) as connection:
            closed = asyncio.create_task(connection.wait_closed())
            broker.kill()
            async with asyncio.timeout(10):
                with pytest.raises(DisconnectedError):
                    await closed
            with pytest.raises(DisconnectedError):
                await connection.publish_acked(Outgoing("late", b"{}"), 1)
    finally:
        broker.kill()


async def test_a_clean_close_sends_no_will_and_an_abort_does(mosquitto: Mosquitto) -> None:
    async with Subscriber(mosquitto.port, WILL.topic) as subscriber:
        async with connected(mosquitto):
            pass
        async with connected(mosquitto) as connection:
            await connection.publish_acked(Outgoing("marker", b"{}"), 1)
            connection.abort()  # as a crash would: the broker publishes the will
        await subscriber.wait_until(lambda s: len(s.messages) >= 1)
    assert subscriber.messages == [(WILL.topic, WILL.payload, False)]


async def test_every_message_carries_the_json_properties_packed_once(mosquitto: Mosquitto) -> None:
    properties = json_properties()
    async with connected(mosquitto) as connection:
        arrived: asyncio.Queue[tuple[str | None, int | None]] = asyncio.Queue()
        connection.on_message = lambda m: arrived.put_nowait(
            (
                getattr(m.properties, "ContentType", None),
                getattr(m.properties, "PayloadFormatIndicator", None),
            )
        )
        (granted,) = await connection.subscribe("typed/+", 1)
        assert not granted.is_failure
        for n in range(3):  # the first publication packs them, the others reuse the bytes
            assert (
                await connection.publish_acked(Outgoing(f"typed/{n}", b"{}"), 1, properties) is None
            )
        async with asyncio.timeout(10):
            received = [await arrived.get() for _ in range(3)]
    assert received == [("application/json", 1)] * 3
