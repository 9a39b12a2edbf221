"""How far the global order can be read without missing a record later.

Several nodes take ``journal_seq`` values from one sequence, but commit in their own time: a
node may commit 101 while another's 100 is still in flight. A tailer that read 101 and
moved its cursor past 100 would never see 100. So readers stop at a horizon below which no
running transaction can still add a record:

- every writing transaction gets its transaction id (``pg_current_xact_id()``) before it
  takes a ``journal_seq``;
- a probe reads the sequence's last value ``allocated`` first, then a snapshot's ``xmax``
  (the next transaction id): each ``journal_seq`` up to ``allocated`` belongs to a transaction
  whose id is below that ``xmax``;
- once a later snapshot's ``xmin`` (the oldest transaction still running) reaches that
  ``xmax``, all of them have ended: committed, or rolled back and gone for good.

``Horizon`` is the pure part: probes in, the safe ``journal_seq`` out.
"""

from __future__ import annotations

from collections import deque

MAX_PROBES = 1024  # a long transaction holds the horizon back; later probes are dropped


class Horizon:
    """Probes waiting to become safe, and the highest safe ``journal_seq`` so far."""

    __slots__ = ("_probes", "safe")

    def __init__(self) -> None:
        self._probes: deque[tuple[int, int]] = deque()  # (allocated, xmax), both ascending
        self.safe = 0

    def observe(self, allocated: int, xmin: int, xmax: int) -> int:
        """Add a probe (``allocated`` read before the snapshot of ``xmin`` and ``xmax``);
        return the safe ``journal_seq``."""
        probes = self._probes
        self._drain(xmin)
        newer = not probes or allocated > probes[-1][0]
        if allocated > self.safe and newer and len(probes) < MAX_PROBES:
            probes.append((allocated, xmax))
        self._drain(xmin)
        return self.safe

    def _drain(self, xmin: int) -> None:
        """Every probe whose transactions have all ended is safe."""
        probes = self._probes
        while probes and probes[0][1] <= xmin:
            self.safe = max(self.safe, probes.popleft()[0])
