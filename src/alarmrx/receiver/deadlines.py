"""Commit deadlines: a frame whose record is not durable in time is answered with silence.

A panel waits a few seconds for its reply; a commit that has not come back within
``timeout_s`` (a hung disk) would make a late ACK useless and hold up the connection's next
frames. One timer for all waiting frames: they are watched in submission order, so their
deadlines are in order too, and the timer only ever looks at the oldest.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Waiting(Protocol):
    """A frame waiting for its commit; ``settled`` once it has its answer either way."""

    settled: bool


class CommitDeadlines:
    """Calls ``on_expired`` for every watched frame still unsettled ``timeout_s`` after."""

    def __init__(self, timeout_s: float, on_expired: Callable[[Waiting], None]) -> None:
        self._timeout_s = timeout_s
        self._on_expired = on_expired
        self._waiting: deque[tuple[float, Waiting]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the first watch's

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def __len__(self) -> int:
        return len(self._waiting)

    def watch(self, frame: Waiting) -> None:
        """Start the clock for ``frame`` (on the event loop)."""
        waiting = self._waiting
        while waiting and waiting[0][1].settled:  # most commits come back in order, quickly
            waiting.popleft()
        loop = self._loop or self._running_loop()
        waiting.append((loop.time() + self._timeout_s, frame))
        if self._timer is None:
            self._timer = loop.call_at(waiting[0][0], self._expire)

    def _expire(self) -> None:
        self._timer = None
        waiting = self._waiting
        loop = self._running_loop()
        now = loop.time()
        while waiting and (waiting[0][1].settled or waiting[0][0] <= now):
            _deadline, frame = waiting.popleft()
            if not frame.settled:
                self._on_expired(frame)
        if waiting:
            self._timer = loop.call_at(waiting[0][0], self._expire)
