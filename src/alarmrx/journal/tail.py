"""The journal's tail in memory: the records written or read most recently, for the next reader.

Two consumers tail the journal (the rules runner and the MQTT publisher), each reading every
new record; the tail keeps what a commit wrote (``Journal``, and in the consumers' process the
writer's ``Committed`` pushes, ``RemoteJournal``) and what a read returned (``Record`` objects,
``body`` decoded), so a reader that keeps up gets it without SQLite or JSON. A read is
answered from here only when every record it asks for is here, so the answer is the one SQLite
would give. ``repeats`` is the count at that moment: a retransmission counted since makes the
journal ``forget`` the record, and the next read goes to SQLite again. Records are shared
between readers: treat ``body`` as read-only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from alarmrx.journal.records import Record

CAPACITY = 1024  # records: a second or two of a heavy load (docs/performance.md, "Memory")


class Tail:
    """A bounded map ``journal_seq -> Record``; the oldest kept go first."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        # ordered by insertion; the oldest go first in O(1) (a dict's ``next(iter())`` walks
        # over the slots its deletions left at the front)
        self._records: OrderedDict[int, Record] = OrderedDict()
        self._top = 0  # the highest journal_seq ever kept: one above it is not kept yet

    def __len__(self) -> int:
        return len(self._records)

    def after(self, journal_seq: int, limit: int, head_seq: int) -> list[Record] | None:
        """Up to ``limit`` records after ``journal_seq`` up to ``head_seq`` (the committed
        head), or None when any of them is not here."""
        if limit < 1:
            return None
        found: list[Record] = []
        for seq in range(journal_seq + 1, min(journal_seq + limit, head_seq) + 1):
            record = self._records.get(seq)
            if record is None:
                return None
            found.append(record)
        return found

    def keep(self, records: Sequence[Record]) -> None:
        """Records as a read returned them."""
        kept, top = self._records, self._top
        for record in records:
            seq = record.journal_seq
            if seq > top:  # the usual case, a commit's new records: not kept yet
                top = seq
            elif seq in kept:
                kept.move_to_end(seq)  # re-inserted: now among the newest
            kept[seq] = record
        self._top = top
        while len(kept) > self._capacity:
            kept.popitem(last=False)

    def forget(self, journal_seq: int) -> None:
        """The stored record changed (its ``repeats``): read it from SQLite next time."""
        self._records.pop(journal_seq, None)


class JournalTail(Protocol):
    """The part of the journal a downstream consumer reads: records after a cursor."""

    @property
    def last_seq(self) -> int: ...

    async def read_after(self, journal_seq: int, *, limit: int = 500) -> list[Record]: ...

    async def wait_for(self, journal_seq: int) -> None: ...

    async def load_cursor(self, name: str) -> int: ...

    async def save_cursor(self, name: str, journal_seq: int) -> None: ...
