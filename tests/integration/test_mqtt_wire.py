"""The publisher's short cuts through paho against a real mosquitto: every message arrives,
in order, and every PUBACK is settled exactly once."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest
from tests.mosquitto import Mosquitto, Subscriber

from alarmrx.mqtt.outbox import Outgoing
from alarmrx.mqtt.publish import _JSONProperties
from alarmrx.mqtt.wire import Wire, _ReadAhead

pytestmark = pytest.mark.integration

COUNT = 600  # several reads' and writes' worth, each joined


@pytest.mark.parametrize(
    ("protocol", "properties"),
    [
        (aiomqtt.ProtocolVersion.V5, _JSONProperties),
        (aiomqtt.ProtocolVersion.V311, None),
    ],
)
async def test_a_burst_arrives_in_order_and_is_acknowledged_once_each(
    mosquitto: Mosquitto, protocol: aiomqtt.ProtocolVersion, properties: type | None
) -> None:
    async with (
        Subscriber(mosquitto.port, "burst/#") as subscriber,
        aiomqtt.Client(
            "127.0.0.1", mosquitto.port, protocol=protocol, max_inflight_messages=0
        ) as client,
    ):
        wire = Wire(client._client, 1, properties() if properties else None)
        acked: list[int] = []
        all_acked = asyncio.Event()

        def on_ack(mid: int, refusal: object) -> None:
            assert refusal is None
            acked.append(mid)
            if len(acked) == COUNT:
                all_acked.set()

        wire.on_ack(on_ack)
        assert wire.bulk()
        assert isinstance(client._client._sock, _ReadAhead)
        sent = [wire.publish(Outgoing(f"burst/{n % 7}", b'{"n":%d}' % n)) for n in range(COUNT)]
        async with asyncio.timeout(15):
            await all_acked.wait()
        await subscriber.wait_until(lambda s: len(s.messages) >= COUNT)
    assert sorted(acked) == sorted(sent)
    assert client._client._out_messages == {}
    assert [d["n"] for d in subscriber.decoded] == list(range(COUNT))
