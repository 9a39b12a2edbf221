"""Pipelined QoS 1 through each candidate MQTT client's public API, against a real mosquitto.

Messages are published at a fixed rate without waiting for each other (as the publisher's
flight does); the latency of each is its PUBACK's arrival minus the moment it was due, and
``loop_cpu_us_per_message`` the event loop thread's CPU per message (the client's cost,
plus a little of the load's). No journal: the clients alone.

    .venv/bin/python -m benchmarks.mqtt_clients [--rate 1000] [--seconds 10]
        [--client paho|aiomqtt]

- ``paho``: paho-mqtt's public API under the asyncio loop, as the publisher uses it
  (``alarmrx.mqtt.wire.Connection``): ``publish`` returns the packet id, ``on_publish``
  reports each PUBACK.
- ``aiomqtt``: aiomqtt's public API, one task per message awaiting ``Client.publish``
  (which returns once its PUBACK came), as many at once as the rate asks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from alarmrx.config import MQTTSettings
from alarmrx.mqtt.broker import parse_url
from alarmrx.mqtt.outbox import Outgoing
from alarmrx.mqtt.publish import json_properties
from alarmrx.mqtt.wire import Connection, Greeting, paho_client
from benchmarks.broker import Broker

PAYLOAD = b'{"schema":"alarmrx.event.v1","id":"0123456789abcdef","code":"RP"}' * 4

Sender = Callable[[int, float], None]  # (n, due) -> publish message n, record its latency


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _paced(send: Sender, rate: int, seconds: float) -> int:
    """Call ``send(n, due)`` ``rate`` times a second for ``seconds``; how many were sent."""
    start = time.monotonic()
    count = int(rate * seconds)
    for n in range(count):
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        send(n, due)
    return count


async def _paho(url: str, rate: int, seconds: float, latencies: list[float]) -> int:
    address = parse_url(url)
    settings = MQTTSettings(url=url, protocol="5")
    will = Outgoing("bench/status", b"{}", retain=True)
    connection = Connection(paho_client(address, settings, Greeting("bench-paho", will)))
    await connection.open(address, 60, 10.0)
    properties = json_properties()
    due_of: dict[int, float] = {}
    done = asyncio.Event()
    expected = int(rate * seconds)

    def acked(mid: int, _refusal: object) -> None:
        latencies.append(time.monotonic() - due_of.pop(mid))
        if len(latencies) == expected:
            done.set()

    connection.on_ack = acked

    def send(n: int, due: float) -> None:
        topic = f"bench/events/{n % 1000:04X}"
        due_of[connection.publish(Outgoing(topic, PAYLOAD), 1, properties)] = due

    async with connection:
        sent = await _paced(send, rate, seconds)
        async with asyncio.timeout(30):
            await done.wait()
    return sent


async def _aiomqtt(url: str, rate: int, seconds: float, latencies: list[float]) -> int:
    import aiomqtt  # the candidate measured; alarmrx does not use it
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    address = parse_url(url)
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = "application/json"
    properties.PayloadFormatIndicator = 1
    tasks: set[asyncio.Task[None]] = set()
    async with aiomqtt.Client(
        address.host,
        address.port,
        identifier="bench-aiomqtt",
        protocol=aiomqtt.ProtocolVersion.V5,
        max_inflight_messages=0,
        logger=_quiet("bench.aiomqtt"),  # it warns of every call still waiting for its PUBACK
    ) as client:

        async def one(n: int, due: float) -> None:
            topic = f"bench/events/{n % 1000:04X}"
            await client.publish(topic, PAYLOAD, qos=1, properties=properties)
            latencies.append(time.monotonic() - due)

        def send(n: int, due: float) -> None:
            task = asyncio.create_task(one(n, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        sent = await _paced(send, rate, seconds)
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
    return sent


def _quiet(name: str) -> Any:
    import logging

    logger = logging.getLogger(name)
    logger.setLevel(logging.ERROR)
    return logger


CLIENTS: dict[str, Callable[[str, int, float, list[float]], Awaitable[int]]] = {
    "paho": _paho,
    "aiomqtt": _aiomqtt,
}


async def run(client: str, rate: int, seconds: float) -> dict[str, Any]:
    """One client at ``rate`` messages/s for ``seconds`` against a fresh mosquitto."""
    with tempfile.TemporaryDirectory() as directory, Broker(Path(directory), _free_port()) as b:
        latencies: list[float] = []
        cpu, loop_cpu = time.process_time(), time.thread_time()
        sent = await CLIENTS[client](b.url, rate, seconds, latencies)
        loop_cpu, cpu = time.thread_time() - loop_cpu, time.process_time() - cpu
    ordered = sorted(latencies)
    return {
        "client": client,
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": sent,
        "acked": len(latencies),
        "p50_ms": round(statistics.median(ordered) * 1e3, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1e3, 2),
        "max_ms": round(ordered[-1] * 1e3, 2),
        "loop_cpu_us_per_message": round(loop_cpu / sent * 1e6, 1),
        "cpu_us_per_message": round(cpu / sent * 1e6, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client", choices=sorted(CLIENTS), action="append")
    args = parser.parse_args()
    with contextlib.suppress(ImportError):  # the daemon's loop when installed (app.py)
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    for client in args.client or sorted(CLIENTS):
        print(json.dumps(asyncio.run(run(client, args.rate, args.seconds))))


if __name__ == "__main__":
    main()
