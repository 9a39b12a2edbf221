"""Panels with a primary and a backup receiver address, as real panels are configured, for
the failover tests: load that keeps running while the test kills a node or the database.

Each panel keeps one TCP connection and sends one event at a time (the benchmark's frames,
``benchmarks/frames.py``, one account per panel, a fresh sequence per event). When no valid
ACK comes within its timeout (the connection closed, could not be opened, a NAK, silence),
it drops the connection and sends the same bytes again on the other address, as a panel
retries on its backup path; it moves on to the next event only once one is ACKed. So every
event is either ACKed once, or still being retried when the test stops the panels.

The panels run in a thread with their own event loop, so a synchronous test drives them
with plain calls while it waits on the daemons.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from benchmarks.accounts import BenchAccount, make_accounts
from benchmarks.clients import Link, open_link
from benchmarks.frames import FrameSource, Outgoing
from benchmarks.replies import check_reply

EVENT = (("SIA-DCS", "Nri1/BA004"),)  # a burglary alarm: journaled, ruled on, published
STOP_TIMEOUT_S = 30.0


@dataclass(slots=True)
class Event:
    """One event a panel sent: who, which sequence, and how it went."""

    account: str
    sequence: str
    attempts: int = 0
    acked_by: int | None = None  # the port that ACKed it
    acked_at: float | None = None  # time.monotonic()

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.sequence)


@dataclass(slots=True)
class _Panel:
    account: BenchAccount
    frames: FrameSource
    current: int = 0  # index into the addresses
    link: Link | None = None
    events: list[Event] = field(default_factory=list)


class Panels:
    """``count`` panels, each dialling ``ports[0]`` first and the next port on a failure."""

    def __init__(
        self,
        ports: tuple[int, ...],
        accounts: tuple[BenchAccount, ...],
        *,
        interval: float = 0.2,
        reply_timeout: float = 2.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.ports, self.host = ports, host
        self.interval, self.reply_timeout = interval, reply_timeout
        self._panels = [
            _Panel(account, FrameSource((account,), seed=index, mix=EVENT))
            for index, account in enumerate(accounts)
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> Panels:
        self._thread.start()
        for panel in self._panels:
            self._loop.call_soon_threadsafe(self._spawn, panel)
        return self

    def stop(self) -> None:
        """Let each panel finish the event it is on (ACKed, or given up after the stop
        timeout), then end the thread."""
        self._stopping = True
        future = asyncio.run_coroutine_threadsafe(self._finish(), self._loop)
        future.result(STOP_TIMEOUT_S + 5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STOP_TIMEOUT_S)
        self._loop.close()

    def __enter__(self) -> Panels:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()

    @property
    def events(self) -> list[Event]:
        """Every event sent so far (a snapshot)."""
        return [event for panel in self._panels for event in list(panel.events)]

    @property
    def acked(self) -> list[Event]:
        return [event for event in self.events if event.acked_by is not None]

    def wait_acked(self, count: int, timeout: float, *, since: float = 0.0) -> None:
        """Until ``count`` events were ACKed after ``since`` (time.monotonic()); fail after
        ``timeout`` with what the panels saw."""
        self.wait_until(lambda: self.acked_since(since) >= count, timeout)

    def acked_since(self, since: float) -> int:
        return sum(1 for e in self.acked if e.acked_at is not None and e.acked_at >= since)

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"panels: condition not reached in {timeout} s; {self}")
            time.sleep(0.05)

    def __repr__(self) -> str:
        events = self.events
        retried = sum(1 for e in events if e.attempts > 1)
        by_port = {port: sum(1 for e in events if e.acked_by == port) for port in self.ports}
        return f"Panels(events={len(events)}, retried={retried}, acked_by={by_port})"

    def _spawn(self, panel: _Panel) -> None:
        self._tasks.append(self._loop.create_task(self._run(panel)))

    async def _finish(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for panel in self._panels:
            if panel.link is not None:
                panel.link.close()

    async def _run(self, panel: _Panel) -> None:
        """Events one after another until stopped; each retried until ACKed."""
        while not self._stopping:
            sent = panel.frames.at(time.time())
            event = Event(panel.account.account, sent.sequence)
            panel.events.append(event)
            while event.acked_by is None:
                event.attempts += 1
                if await self._attempt(panel, sent):
                    event.acked_by, event.acked_at = self.ports[panel.current], time.monotonic()
                else:
                    self._fail_over(panel)
                    await asyncio.sleep(self.interval)
            await asyncio.sleep(self.interval)

    async def _attempt(self, panel: _Panel, sent: Outgoing) -> bool:
        """Send ``sent`` on the panel's current address; True when a valid ACK came back."""
        try:
            async with asyncio.timeout(self.reply_timeout):
                if panel.link is None:
                    port = self.ports[panel.current]
                    panel.link = await open_link("tcp", self.host, port)
                reply = await panel.link.exchange(sent.frame)
        except (OSError, TimeoutError):
            return False
        return check_reply(reply, sent, now=datetime.now(UTC)) is None

    def _fail_over(self, panel: _Panel) -> None:
        """Drop the connection; the next attempt dials the other address."""
        if panel.link is not None:
            panel.link.close()
            panel.link = None
        panel.current = (panel.current + 1) % len(self.ports)


def accounts(count: int) -> tuple[BenchAccount, ...]:
    """``count`` plaintext accounts (``000001``…), one per panel."""
    return make_accounts(count, "plain")
