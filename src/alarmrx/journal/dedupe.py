"""Recognising retransmissions: which dedupe keys were chained recently, and as which seq.

A key matches when the new record's ``received_at`` lies within the window of the *original*
record's ``received_at`` (either side, so a clock stepped back does not create a new record).
At most ``MAX_ENTRIES`` keys are kept (docs/performance.md, "Memory"): under a load that
chains more within the window, the oldest go first and the window is that much shorter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import datetime, timedelta

MAX_ENTRIES = 65_536


class DedupeIndex:
    """In memory, rebuilt from the journal's last window on open; touched by one thread."""

    __slots__ = ("_entries", "_max_entries", "_order", "_window")

    def __init__(self, window: timedelta, max_entries: int = MAX_ENTRIES) -> None:
        self._window = window
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[int, datetime]] = {}
        self._order: deque[tuple[datetime, bytes, int]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, key: bytes, at: datetime) -> int | None:
        """The seq of the original record for ``key`` if it is within the window of ``at``."""
        entry = self._entries.get(key)
        if entry is None or abs(at - entry[1]) > self._window:
            return None
        return entry[0]

    def add(self, key: bytes, journal_seq: int, at: datetime) -> None:
        """Remember a newly chained record; forget what fell out of the window."""
        self._entries[key] = (journal_seq, at)
        self._order.append((at, key, journal_seq))
        self._evict(at - self._window)

    def add_commit(self, chained: Mapping[bytes, tuple[int, datetime]]) -> None:
        """Remember what one commit chained (``key: (journal_seq, received_at)``), then
        forget what fell out of the window of the last: ``add`` for each, the forgetting
        done once. Only memory is at stake there: ``find`` checks the window itself."""
        entries, order = self._entries, self._order
        at = None
        for key, entry in chained.items():
            journal_seq, at = entry
            entries[key] = entry
            order.append((at, key, journal_seq))
        if at is not None:
            self._evict(at - self._window)

    def _evict(self, cutoff: datetime) -> None:
        order, entries = self._order, self._entries
        while order and (order[0][0] < cutoff or len(order) > self._max_entries):
            _, key, journal_seq = order.popleft()
            if entries.get(key, (None,))[0] == journal_seq:
                del entries[key]
