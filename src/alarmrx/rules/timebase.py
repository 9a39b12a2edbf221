"""Supervision time: a wall-clock reading taken once, advanced by a monotonic clock.

Silence is measured on it (``runner.py``), so a step of the wall clock (NTP correcting a
clock, someone setting it) neither makes a panel look silent nor hides a real silence. It
starts at the wall clock's reading, so the journal's receipt times folded at start-up are
comparable with it; a derived record is stamped back on the wall clock by the distance
between the two (``wall``), so what people read stays in the clock they know.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


class SupervisionTime:
    """``anchor`` + (``monotonic()`` - its reading at the anchor); never goes back."""

    __slots__ = ("_anchor", "_monotonic", "_ticks", "_wall")

    def __init__(self, wall: Clock, monotonic: Monotonic) -> None:
        self._wall, self._monotonic = wall, monotonic
        self._anchor, self._ticks = wall(), monotonic()

    def now(self) -> datetime:
        """Supervision time now."""
        # Positional: ``timedelta(0, s)`` is the same value as ``timedelta(seconds=s)``,
        # built without parsing keywords; the receiver calls this for every frame
        # (``observe_link``).
        return self._anchor + timedelta(0, self._monotonic() - self._ticks)

    def offset(self) -> timedelta:
        """What turns a supervision time into the wall clock's reading now."""
        return self._wall() - self.now()

    def reanchor(self, not_before: datetime) -> None:
        """Start again from the latest of now, the wall clock and ``not_before`` (start-up:
        the latest receipt time folded), so no folded time is ahead of supervision time."""
        ticks = self._monotonic()
        now = self._anchor + timedelta(seconds=ticks - self._ticks)
        self._anchor, self._ticks = max(now, self._wall(), not_before), ticks
