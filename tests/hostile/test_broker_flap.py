"""Broker flapping: mosquitto stopped and started every few seconds while a panel sends alarms.

Every alarm is ACKed whatever the broker does (the journal absorbs outages), and once the
broker stays up every journaled event has been delivered — compared by event id against the
journal. The subscriber keeps a persistent session and reconnects after each outage, so what
the broker accepted while it was away is queued for it.

CI: 4 flaps; ``ALARMRX_HOSTILE=full``: 20.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from pathlib import Path

import aiomqtt
import pytest
from tests.daemon import Daemon, frame, read_reply, write_config
from tests.hostile.support import metric, scale
from tests.mosquitto import Mosquitto

from alarmrx.journal.query import query
from alarmrx.journal.records import RecordKind

pytestmark = pytest.mark.integration

FLAPS = scale(4, 20)
DOWN_S, UP_S = 1.0, 1.5
DELIVERED_WITHIN_S = 60  # the publisher's reconnect backoff is capped at 30 s
RECEIVER_ID = "rx-test"


class Follower:
    """A subscriber with a persistent session that reconnects whenever the broker goes away,
    collecting event ids."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ids: set[str] = set()
        self.connections = 0
        self._arrived = asyncio.Event()

    async def wait_for(self, ids: set[str], within_s: float) -> None:
        """Until every id of ``ids`` has arrived."""
        async with asyncio.timeout(within_s):
            while not ids <= self.ids:
                self._arrived.clear()
                await self._arrived.wait()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._session()
            await asyncio.sleep(0.1)

    async def _session(self) -> None:
        async with aiomqtt.Client(
            "127.0.0.1", self.port, identifier="flap-follower", clean_session=False
        ) as client:
            await client.subscribe("alarmrx/v1/events/#", qos=1)
            self.connections += 1
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes | bytearray):
                    self.ids.add(json.loads(payload)["id"])
                    self._arrived.set()


def _panel(port: int, stop: threading.Event, acked: list[bytes], failures: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        n = 0
        while not stop.wait(0.02):
            n += 1
            data = frame("1234", f"#1234|Nri1/BA{n % 999 + 1:03d}", sequence=n % 9999 + 1)
            sock.sendall(data)
            reply = read_reply(sock)
            (acked if b'"ACK"' in reply else failures).append(data)


@pytest.mark.timeout(scale(120, 900))  # the full variant runs minutes
async def test_flapping_broker_loses_no_event(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistent=True)
    broker.start()
    follower = Follower(broker.port)
    following = asyncio.create_task(follower.run())
    config = write_config(
        tmp_path, accounts=['account = "1234"'], log_level="info", mqtt=f'url = "{broker.url}"'
    )
    acked: list[bytes] = []
    failures: list[bytes] = []
    try:
        with Daemon(config) as daemon:
            stop = threading.Event()
            panel = threading.Thread(target=_panel, args=(daemon.port, stop, acked, failures))
            panel.start()
            for _ in range(FLAPS):
                await asyncio.sleep(UP_S)
                broker.stop()
                await asyncio.sleep(DOWN_S)
                broker.start()
            stop.set()
            await asyncio.to_thread(panel.join, 10)
            expected = await asyncio.to_thread(_expected_ids, daemon)
            await follower.wait_for(expected, DELIVERED_WITHIN_S)
            failed_publishes = metric(daemon, "alarmrx_mqtt_publish_failures_total")
            assert daemon.terminate() == 0
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        broker.kill()
    print(
        f"\nflaps={FLAPS} acked={len(acked)} events={len(expected)} "
        f"sessions={follower.connections} publish_failures={failed_publishes}"
    )
    assert failures == []
    assert len(acked) > FLAPS * 20
    assert len(expected) == len(acked)
    assert follower.connections > FLAPS  # it really was cut off each time


def _expected_ids(daemon: Daemon) -> set[str]:
    records = query(daemon.directory / "journal.db")
    return {f"{RECEIVER_ID}:{r.journal_seq}:0" for r in records if r.kind is RecordKind.MESSAGE}
