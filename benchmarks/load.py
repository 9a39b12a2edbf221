"""One load-generator process: its share of links, driven until the deadline.

Each link behaves like a panel: it sends one frame, waits for the reply (bounded), checks it,
and only then sends the next. Closed loop by default (as fast as the receiver answers); with
``interval`` each link sends on a fixed schedule and latency counts from the scheduled time,
so a slow receiver cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import gc
import time
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks.accounts import BenchAccount
from benchmarks.clients import Link, open_link
from benchmarks.frames import MIX, FrameSource
from benchmarks.replies import CLOSED, TIMEOUT, check_reply

CONNECT_TIMEOUT = 10.0
CONNECTS_IN_FLIGHT = 256
SAMPLES_KEPT = 5


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """One link: its accounts, its local address and its place in the send schedule."""

    index: int
    accounts: tuple[BenchAccount, ...]
    source: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SharePlan:
    """What one process runs; picklable, so it crosses the process boundary."""

    transport: str
    host: str
    port: int
    links: tuple[LinkPlan, ...]
    duration: float
    reply_timeout: float
    encrypted_acks: bool
    interval: float | None = None  # seconds between one link's frames; None: closed loop
    mix: tuple[tuple[str, str], ...] = MIX


@dataclass(slots=True)
class ShareResult:
    """What one process measured; latencies in seconds."""

    acked: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    connected: int = 0
    stray_replies: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time while it drove the links

    def fail(self, reason: str, detail: str) -> None:
        """Count a failed exchange, keeping the first few details for the report."""
        self.failures[reason] += 1
        if len(self.samples) < SAMPLES_KEPT:
            self.samples.append(f"{reason}: {detail}")


async def connect_all(plan: SharePlan, result: ShareResult) -> list[Link | None]:
    """Open every link of the share, a bounded number at a time."""
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def one(link: LinkPlan) -> Link | None:
        async with gate:
            return await _connect(plan, link, result)

    links = await asyncio.gather(*(one(link) for link in plan.links))
    result.connected = sum(link is not None for link in links)
    return links


async def _connect(plan: SharePlan, link: LinkPlan, result: ShareResult) -> Link | None:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            return await open_link(plan.transport, plan.host, plan.port, source=link.source)
    except (OSError, TimeoutError) as err:
        result.fail("connect_failed", repr(err))
        return None


async def run_share(
    plan: SharePlan, ready: Callable[[int], None], go: Callable[[], Awaitable[float]]
) -> ShareResult:
    """Connect, report ``ready``, wait for the common start time, drive, close."""
    result = ShareResult()
    links = await connect_all(plan, result)
    gc.freeze()  # thousands of long-lived links: keep full collections from stalling the loop
    ready(result.connected)
    start = await go()
    result.started = start
    await _sleep_until(start)
    cpu_at_start = time.process_time()
    drivers = [
        _Driver(plan, link_plan, link, result)
        for link_plan, link in zip(plan.links, links, strict=True)
        if link is not None
    ]
    await asyncio.gather(*(driver.run(start, start + plan.duration) for driver in drivers))
    result.finished = time.monotonic()
    for driver in drivers:
        result.stray_replies += driver.link.stray_replies
        driver.link.close()
    result.cpu_seconds = time.process_time() - cpu_at_start
    return result


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class _Driver:
    """Sends one link's frames until the deadline."""

    def __init__(self, plan: SharePlan, link_plan: LinkPlan, link: Link, result: ShareResult):
        self.plan, self.link_plan, self.link, self.result = plan, link_plan, link, result
        self.frames = FrameSource(link_plan.accounts, seed=link_plan.index, mix=plan.mix)

    async def run(self, start: float, until: float) -> None:
        interval = self.plan.interval
        due = start + (self._phase(interval) if interval else 0.0)
        while due < until:
            if interval:
                await _sleep_until(due)
            else:
                due = time.monotonic()
            if not await self._exchange(due):
                return
            due = due + interval if interval else time.monotonic()

    def _phase(self, interval: float) -> float:
        """Spread the links' first frames evenly over one interval."""
        return interval * ((self.link_plan.index * 0.618034) % 1.0)

    async def _exchange(self, due: float) -> bool:
        """One frame and its reply; False when the link is lost for good."""
        outgoing = self.frames.next(datetime.now(UTC))
        try:
            async with asyncio.timeout(self.plan.reply_timeout):
                reply = await self.link.exchange(outgoing.frame)
        except TimeoutError:
            self.result.fail(TIMEOUT, outgoing.frame.decode("ascii", "replace").strip())
            return await self._reconnect()
        except OSError as err:
            self.result.fail(CLOSED, repr(err))
            return await self._reconnect()
        latency = time.monotonic() - due
        now = datetime.now(UTC)
        failure = check_reply(reply, outgoing, now=now, encrypted_acks=self.plan.encrypted_acks)
        if failure is None:
            self.result.acked += 1
            self.result.latencies.append(latency)
        else:
            self.result.fail(failure, reply.decode("ascii", "replace").strip())
        return True

    async def _reconnect(self) -> bool:
        """A panel that got no answer drops the TCP connection and dials again."""
        if self.plan.transport != "tcp":
            return True
        self.link.close()
        link = await _connect(self.plan, self.link_plan, self.result)
        if link is None:
            return False
        self.link = link
        return True
