"""The end-to-end probe: subscribe to alarmrx's events and time each one's journey.

For every message on ``{topic_root}/v1/events/#`` the latency is its arrival time here minus
the ``received_at`` in its payload (the moment alarmrx read the frame). Runs in its own
process so the load generator's loop does not delay it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import queue
import time
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.synchronize import Event

import aiomqtt

QUIET = 2.0  # after the load: stop once nothing arrived for this long
DRAIN_LIMIT = 60.0  # and in any case after this long


class SubscriberError(RuntimeError):
    """The subscriber did not subscribe or did not report in time."""


@dataclass(slots=True)
class Arrivals:
    """What the subscriber saw; latencies in seconds."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    malformed: int = 0


async def _collect(port: int, topic: str, subscribed: Event, stop: Event) -> Arrivals:
    arrivals, arrived = Arrivals(), asyncio.Event()
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=1)
        subscribed.set()
        reader = asyncio.create_task(_read(client, arrivals, arrived))
        await asyncio.to_thread(stop.wait)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_LIMIT):
                await _until_quiet(arrived)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return arrivals


async def _until_quiet(arrived: asyncio.Event) -> None:
    """Return once no message arrived for ``QUIET`` seconds."""
    while True:
        arrived.clear()
        try:
            async with asyncio.timeout(QUIET):
                await arrived.wait()
        except TimeoutError:
            return


async def _read(client: aiomqtt.Client, arrivals: Arrivals, arrived: asyncio.Event) -> None:
    async for message in client.messages:
        now = time.time()
        arrived.set()
        received = _received_at(message.payload)
        if received is None:
            arrivals.malformed += 1
        else:
            arrivals.latencies.append(now - received)


def _received_at(payload: object) -> float | None:
    """The payload's ``received_at`` as a POSIX time, or None if it has none."""
    if not isinstance(payload, bytes | bytearray | str):
        return None
    try:
        return datetime.fromisoformat(json.loads(payload)["received_at"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return None


def _child(
    port: int, topic: str, subscribed: Event, stop: Event, out: multiprocessing.Queue[Arrivals]
) -> None:
    out.put(asyncio.run(_collect(port, topic, subscribed, stop)))


class Subscriber:
    """Start before the load (returns once subscribed); ``finish`` after it."""

    def __init__(self, port: int, topic_root: str = "alarmrx") -> None:
        context = multiprocessing.get_context("spawn")
        self._subscribed, self._stop = context.Event(), context.Event()
        self._out: multiprocessing.Queue[Arrivals] = context.Queue()
        topic = f"{topic_root}/v1/events/#"
        self._process = context.Process(
            target=_child, args=(port, topic, self._subscribed, self._stop, self._out), daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait for its subscription."""
        self._process.start()
        if not self._subscribed.wait(timeout):
            self._process.kill()
            msg = "the MQTT subscriber did not subscribe in time"
            raise SubscriberError(msg)

    def finish(self) -> Arrivals:
        """Let it drain what is still being published, then return what it saw."""
        self._stop.set()
        try:
            return self._out.get(timeout=DRAIN_LIMIT + 30)
        except queue.Empty:
            msg = "the MQTT subscriber did not report"
            raise SubscriberError(msg) from None
        finally:
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
