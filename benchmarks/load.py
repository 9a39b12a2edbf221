"""One load-generator process: its share of links, driven until the deadline.

Each link behaves like a panel: it sends one frame, waits for the reply (bounded), checks it,
and only then sends the next. Closed loop by default (as fast as the receiver answers); with
``interval`` each link sends on a fixed schedule and latency counts from the scheduled time,
so a slow receiver cannot hide its queueing (no coordinated omission).

The panels run on callbacks rather than a coroutine each: the link hands a reply to its
panel, which checks it and sends the next frame there and then (or arms a timer for it).
Every frame waits the same reply timeout, so the reply deadlines form one queue in send
order, swept a few times a second, instead of a timer armed and cancelled per frame.
"""

from __future__ import annotations

import asyncio
import gc
import time
from array import array
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks.accounts import BenchAccount
from benchmarks.clients import Link, open_link
from benchmarks.frames import MIX, FrameSource, Outgoing
from benchmarks.replies import CLOSED, TIMEOUT, acknowledges, diagnose

CONNECT_TIMEOUT = 10.0
CONNECTS_IN_FLIGHT = 256
SAMPLES_KEPT = 5
SWEEP_EVERY = 0.05  # seconds between looks for replies past their timeout
PROBE = "probe_"  # the measuring panel's failures are counted under this prefix


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """One link: its accounts, its local address and its place in the send schedule."""

    index: int
    accounts: tuple[BenchAccount, ...]
    source: str | None = None


@dataclass(frozen=True, slots=True)
class ProbePlan:
    """The measuring panel: its own link and account, event frames every ``interval`` s."""

    link: LinkPlan
    interval: float


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
    probe: ProbePlan | None = None


@dataclass(slots=True)
class LoadResult:
    """What one process measured, or all processes merged; latencies in seconds."""

    latencies: array[float] = field(default_factory=lambda: array("d"))
    probe_latencies: array[float] = field(default_factory=lambda: array("d"))
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    connected: int = 0
    stray_replies: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0  # the generator's CPU time while it drove the links

    @property
    def acked(self) -> int:
        """Frames that got a valid acknowledgement (the measuring panel's apart)."""
        return len(self.latencies)

    @property
    def elapsed(self) -> float:
        """Seconds from the common start to the last process's end."""
        return self.finished - self.started

    def fail(self, reason: str, detail: str) -> None:
        """Count a failed exchange, keeping the first few details for the report."""
        self.failures[reason] += 1
        if len(self.samples) < SAMPLES_KEPT:
            self.samples.append(f"{reason}: {detail}")

    def add(self, share: LoadResult) -> None:
        """Merge one process's result (all processes share the start time)."""
        self.latencies.extend(share.latencies)
        self.probe_latencies.extend(share.probe_latencies)
        self.failures.update(share.failures)
        self.samples.extend(share.samples[: SAMPLES_KEPT - len(self.samples)])
        self.connected += share.connected
        self.stray_replies += share.stray_replies
        self.started = share.started
        self.finished = max(self.finished, share.finished)
        self.cpu_seconds += share.cpu_seconds


async def connect_all(plan: SharePlan, result: LoadResult) -> list[Link | None]:
    """Open every link of the share, a bounded number at a time (None where it failed)."""
    gate = asyncio.Semaphore(CONNECTS_IN_FLIGHT)

    async def one(link: LinkPlan) -> Link | None:
        async with gate:
            return await _connect(plan, link, result)

    return await asyncio.gather(*(one(link) for link in plan.links))


async def _connect(plan: SharePlan, link: LinkPlan, result: LoadResult) -> Link | None:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            return await open_link(plan.transport, plan.host, plan.port, source=link.source)
    except (OSError, TimeoutError) as err:
        result.fail("connect_failed", repr(err))
        return None


async def run_share(
    plan: SharePlan, ready: Callable[[int], None], go: Callable[[], Awaitable[float]]
) -> LoadResult:
    """Connect, report ``ready``, wait for the common start time, drive, close."""
    result = LoadResult()
    links = await connect_all(plan, result)
    probe = None if plan.probe is None else await _connect(plan, plan.probe.link, result)
    result.connected = sum(link is not None for link in [*links, probe])
    share = _Share(plan, result)
    panels = share.panels(links, probe)
    gc.freeze()  # thousands of long-lived panels: keep full collections from stalling the loop
    ready(result.connected)
    result.started = start = await go()
    await _sleep_until(start)
    cpu_at_start = time.process_time()
    await share.drive(panels, start)
    result.finished = time.monotonic()
    result.cpu_seconds = time.process_time() - cpu_at_start
    for panel in panels:
        panel.link.close()
    return result


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class _Share:
    """One process's panels: their deadline, their reply deadlines, when all are done."""

    def __init__(self, plan: SharePlan, result: LoadResult) -> None:
        self.plan, self.result = plan, result
        self.until = 0.0  # the deadline, once the start is known
        self.loop = asyncio.get_running_loop()
        self.replies_due: deque[tuple[float, _Panel, Outgoing]] = deque()
        self.all_done = self.loop.create_future()
        self.running = 0
        self.redials: set[asyncio.Task[None]] = set()

    def panels(self, links: list[Link | None], probe: Link | None) -> list[_Panel]:
        """A panel per connected link, and the measuring panel if there is one."""
        plan = self.plan
        panels = [
            _Panel(self, link_plan, link, interval=plan.interval, mix=plan.mix)
            for link_plan, link in zip(plan.links, links, strict=True)
            if link is not None
        ]
        if plan.probe is not None and probe is not None:
            panels.append(
                _Panel(self, plan.probe.link, probe, interval=plan.probe.interval, probe=True)
            )
        return panels

    async def drive(self, panels: list[_Panel], start: float) -> None:
        """Start every panel and wait until each has passed the deadline or lost its link."""
        self.running, self.until = len(panels), start + self.plan.duration
        if not panels:
            return
        sweeper = self.loop.call_later(SWEEP_EVERY, self._sweep)
        for panel in panels:
            panel.start(start)
        try:
            await self.all_done
        finally:
            sweeper.cancel()

    def expect(self, panel: _Panel, sent: Outgoing) -> None:
        """``sent`` is out: its reply is due within the reply timeout."""
        self.replies_due.append((time.monotonic() + self.plan.reply_timeout, panel, sent))

    def _sweep(self) -> None:
        now, due = time.monotonic(), self.replies_due
        while due and due[0][0] <= now:
            _, panel, sent = due.popleft()
            panel.expire(sent)
        if not self.all_done.done():
            self.loop.call_later(SWEEP_EVERY, self._sweep)

    def redial(self, panel: _Panel) -> None:
        """Dial the panel's link again in the background."""
        task = self.loop.create_task(panel.redial())
        self.redials.add(task)
        task.add_done_callback(self.redials.discard)

    def finished(self) -> None:
        """One panel is done."""
        self.running -= 1
        if self.running == 0 and not self.all_done.done():
            self.all_done.set_result(None)


class _Panel:
    """One link, driven as a panel drives it, on callbacks from the link and the loop."""

    def __init__(
        self,
        share: _Share,
        link_plan: LinkPlan,
        link: Link,
        *,
        interval: float | None,
        mix: tuple[tuple[str, str], ...] = MIX,
        probe: bool = False,
    ) -> None:
        self.share, self.link_plan, self.interval = share, link_plan, interval
        self.frames = FrameSource(link_plan.accounts, seed=link_plan.index, mix=mix)
        result = share.result
        self.latencies = result.probe_latencies if probe else result.latencies
        self.label = PROBE if probe else ""
        self.waiting: Outgoing | None = None  # the frame sent and not yet answered
        self.due = 0.0  # when that frame was due to be sent (monotonic)
        self.link = link
        link.listener = self

    def start(self, start: float) -> None:
        """Send the first frame; a link on a schedule starts at its phase of the interval."""
        if self.interval:
            self.due = start + self.interval * ((self.link_plan.index * 0.618034) % 1.0)
        self._schedule()

    def _schedule(self) -> None:
        """Send the next frame now or at its time, unless the deadline has passed."""
        if self.interval is None:
            self.due = time.monotonic()
        if self.due >= self.share.until:
            self.share.finished()
            return
        delay = self.due - time.monotonic()
        if delay > 0:
            self.share.loop.call_later(delay, self._send)
        else:
            self._send()

    def _send(self) -> None:
        outgoing = self.frames.at(time.time())
        try:
            self.link.send(outgoing.frame)
        except ConnectionError as err:
            self._lost(CLOSED, repr(err))
            return
        self.waiting = outgoing
        self.share.expect(self, outgoing)

    def _next(self) -> None:
        if self.interval:
            self.due += self.interval
        self._schedule()

    def on_reply(self, reply: bytes) -> None:
        """The link's callback: check the reply, count it, send the next frame."""
        sent = self.waiting
        if sent is None:
            self.share.result.stray_replies += 1  # a late reply, after its timeout
            return
        self.waiting = None
        latency = time.monotonic() - self.due
        encrypted_acks = self.share.plan.encrypted_acks
        if acknowledges(reply, sent, now=time.time(), encrypted_acks=encrypted_acks):
            self.latencies.append(latency)
        else:
            self._judge(reply, sent, encrypted_acks=encrypted_acks, latency=latency)
        self._next()

    def _judge(self, reply: bytes, sent: Outgoing, *, encrypted_acks: bool, latency: float) -> None:
        """The reply was not the usual ACK: the full check accepts it or says what is wrong."""
        now = datetime.now(UTC)
        failure = diagnose(reply, sent, now=now, encrypted_acks=encrypted_acks)
        if failure is None:
            self.latencies.append(latency)
        else:
            self.share.result.fail(self.label + failure, reply.decode("ascii", "replace").strip())

    def on_lost(self, exc: BaseException) -> None:
        """The link's callback: the connection closed, or (UDP) an error came back."""
        if self.waiting is not None:  # otherwise the next send notices
            self.waiting = None
            self._lost(CLOSED, repr(exc))

    def expire(self, sent: Outgoing) -> None:
        """``sent``'s reply timeout has passed: if it is still unanswered, give up on it."""
        if self.waiting is sent:
            self.waiting = None
            self._lost(TIMEOUT, sent.frame.decode("ascii", "replace").strip())

    def _lost(self, reason: str, detail: str) -> None:
        """Count the failure; a TCP panel drops its connection and dials again."""
        self.share.result.fail(self.label + reason, detail)
        if self.share.plan.transport != "tcp":
            self.share.loop.call_soon(self._next)
            return
        self.link.close()
        self.share.redial(self)

    async def redial(self) -> None:
        """A panel that got no answer dials again, then goes on with its schedule."""
        link = await _connect(self.share.plan, self.link_plan, self.share.result)
        if link is None:
            self.share.finished()
            return
        self.link = link
        link.listener = self
        self._next()
