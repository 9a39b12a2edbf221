"""Receipt times that never go backwards, whatever the wall clock does.

The journal stores ``received_at`` as the receiver gives it, and the order of receipt times
is evidence. When the wall clock steps back (NTP corrects a fast clock, someone sets it), a
reading earlier than the latest receipt time already given out is raised to that time, and
the record keeps what the clock said under ``received_at_raised``. A pipelined frame that
waited behind another connection's commit can be raised by a few milliseconds the same way.

The timestamp window is still checked against the clock's own reading: only the recorded
receipt time is raised.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

# A raise this large is the clock stepping back, not a frame waiting for its turn: logged.
STEP_LOGGED_S = 1.0


# gc=False: its fields are values that never refer back to it, so it is in no reference
# cycle and the garbage collector need not track it.
class Receipt(msgspec.Struct, frozen=True, gc=False):
    """The receipt time to record (``at``) and what the clock said (``clock_read``); one per
    frame, so a Struct (built in C)."""

    at: datetime
    clock_read: datetime

    @property
    def raised(self) -> bool:
        """``at`` is later than the clock's reading."""
        return self.at != self.clock_read

    @property
    def raised_s(self) -> float:
        """How far ``at`` is past the clock's reading (0.0 when not raised)."""
        return (self.at - self.clock_read).total_seconds()

    def body(self) -> dict[str, Any]:
        """``{"received_at_raised": {"clock_read", "by_s"}}`` when raised, else ``{}``."""
        if self.at == self.clock_read:
            return {}
        read = self.clock_read.isoformat()
        return {"received_at_raised": {"clock_read": read, "by_s": self.raised_s}}


class ReceiptClock:
    """Stamps clock readings so that successive receipt times never decrease."""

    __slots__ = ("_latest",)

    def __init__(self) -> None:
        self._latest: datetime | None = None

    def stamp(self, clock_read: datetime) -> Receipt:
        """The receipt for a frame read at ``clock_read``; call it just before the append,
        so receipt order is journal order. Its ``at`` is ``clock_read`` itself unless raised
        (a caller may test that by identity, without the ``raised`` property)."""
        latest = self._latest
        at = clock_read if latest is None or clock_read >= latest else latest
        self._latest = at
        return Receipt(at, clock_read)
