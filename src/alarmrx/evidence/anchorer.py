"""The daemon's anchoring: an ANCHOR record every few minutes while the journal moves
(``run``), and one at once when the operator asks (``alarmrx anchor``, the control socket's
``anchor`` action). The publisher sends each retained, like every other record
(``anchor.py``, docs/evidence.md).

A journal that keeps several chains (PostgreSQL: ``chain_heads()``) gets one ANCHOR record
naming the head of every chain; the SQLite journal's one chain is anchored at its last
record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import structlog

from alarmrx.evidence.anchor import Anchor, anchor_due, heads_json, record_of
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.errors import JournalError
from alarmrx.journal.heads import ChainHead
from alarmrx.journal.records import AppendResult, NewRecord, Record

log = structlog.get_logger("alarmrx.anchor")

ANCHOR_CHECK_S = 60.0
ACTION = "anchor"
Heads = Callable[[], Awaitable[Sequence[ChainHead]]]


class AnchoredJournal(Protocol):
    """What anchoring needs of a journal (``Journal``, ``RemoteJournal``,
    ``PostgresJournal``)."""

    @property
    def last_seq(self) -> int: ...

    async def read_after(self, journal_seq: int, *, limit: int = 500) -> list[Record]: ...

    async def append(self, record: NewRecord) -> AppendResult: ...


@runtime_checkable
class SeveralChains(Protocol):
    """A journal keeping one chain per node (``PostgresJournal``)."""

    async def chain_heads(self) -> list[ChainHead]:
        """Every chain's proven head."""
        ...


class Anchorer:
    """Appends the ANCHOR records of one journal, one at a time."""

    def __init__(
        self,
        journal: AnchoredJournal,
        clock: Callable[[], datetime],
        heads: Heads | None = None,
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._lock = asyncio.Lock()
        if heads is None and isinstance(journal, SeveralChains):
            heads = journal.chain_heads
        self._heads: Heads = heads or self._single_head
        self.last: Anchor | None = None

    async def run(self, check_s: float = ANCHOR_CHECK_S) -> None:
        """Every ``check_s``, anchor the heads when ``anchor_due`` says so."""
        while True:
            await asyncio.sleep(check_s)
            if anchor_due(self.last, head_seq=self._journal.last_seq, now=self._clock()):
                try:
                    await self.anchor()
                except (JournalError, ValueError) as err:
                    log.warning("anchor_failed", error=str(err))

    async def anchor(self) -> Anchor | None:
        """Anchor the current heads now; the last anchor when nothing came after it, None
        when the journal is empty. Raises ``JournalError`` when it cannot be recorded."""
        async with self._lock:
            journal, last = self._journal, self.last
            if journal.last_seq == 0:
                return None
            if last is not None and (last.journal_seq or 0) >= journal.last_seq:
                return last
            now = self._clock()
            heads = tuple(await self._heads())
            if not heads:
                return None
            result = await journal.append(record_of(Anchor(heads, now)))
            self.last = Anchor(heads, now, result.journal_seq)
            log.info("anchored", heads=len(heads), journal_seq=result.journal_seq)
            return self.last

    async def _single_head(self) -> list[ChainHead]:
        """The SQLite journal's head: its last record."""
        journal = self._journal
        [head] = await journal.read_after(journal.last_seq - 1, limit=1)
        if head.chain is not None:
            raise JournalError(
                f"record {head.journal_seq} belongs to chain {head.chain}: a journal of "
                "several chains is anchored through its chain_heads()"
            )
        return [ChainHead(None, head.journal_seq, head.hash)]

    async def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """The control socket's ``{"action": "anchor"}``: the anchor as a reply."""
        del request
        try:
            anchor = await self.anchor()
        except (JournalError, ValueError) as err:
            return {"ok": False, "error": f"the anchor could not be recorded: {err}"}
        if anchor is None:
            return {"ok": False, "error": "the journal is empty: there is nothing to anchor"}
        return {"ok": True, **reply_heads(anchor), "at": format_received_at(anchor.at)}


def reply_heads(anchor: Anchor) -> dict[str, Any]:
    """``journal_seq`` and ``head_seq``/``head_hash`` (one chain) or ``heads`` (several)."""
    single = anchor.single
    if single is not None:
        heads: dict[str, Any] = {"head_seq": single.head_seq, "head_hash": single.head_hash}
    else:
        heads = {"heads": heads_json(anchor.heads)}
    return {"journal_seq": anchor.journal_seq, **heads}
