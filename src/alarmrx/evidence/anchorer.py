"""The daemon's anchoring: an ANCHOR record every few minutes while the journal moves
(``run``), and one at once when the operator asks (``alarmrx anchor``, the control socket's
``anchor`` action). The publisher sends each retained, like every other record
(``anchor.py``, docs/evidence.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from alarmrx.evidence.anchor import Anchor, anchor_due, anchor_record
from alarmrx.journal import Journal
from alarmrx.journal.canonical import format_received_at
from alarmrx.journal.errors import JournalError
from alarmrx.journal.remote import RemoteJournal

log = structlog.get_logger("alarmrx.anchor")

ANCHOR_CHECK_S = 60.0
ACTION = "anchor"


class Anchorer:
    """Appends the ANCHOR records of one journal, one at a time."""

    def __init__(self, journal: Journal | RemoteJournal, clock: Callable[[], datetime]) -> None:
        self._journal = journal
        self._clock = clock
        self._lock = asyncio.Lock()
        self.last: Anchor | None = None

    async def run(self, check_s: float = ANCHOR_CHECK_S) -> None:
        """Every ``check_s``, anchor the head when ``anchor_due`` says so."""
        while True:
            await asyncio.sleep(check_s)
            if anchor_due(self.last, head_seq=self._journal.last_seq, now=self._clock()):
                try:
                    await self.anchor()
                except (JournalError, ValueError) as err:
                    log.warning("anchor_failed", error=str(err))

    async def anchor(self) -> Anchor | None:
        """Anchor the current head now; the last anchor when nothing came after it, None
        when the journal is empty. Raises ``JournalError`` when it cannot be recorded."""
        async with self._lock:
            journal, last = self._journal, self.last
            if journal.last_seq == 0:
                return None
            if last is not None and last.journal_seq == journal.last_seq:
                return last
            now = self._clock()
            [head] = await journal.read_after(journal.last_seq - 1, limit=1)
            result = await journal.append(anchor_record(head.journal_seq, head.hash, now))
            self.last = Anchor(head.journal_seq, head.hash, now, result.journal_seq)
            log.info("anchored", head_seq=head.journal_seq, journal_seq=result.journal_seq)
            return self.last

    async def request(self, request: dict[str, Any]) -> dict[str, Any]:
        """The control socket's ``{"action": "anchor"}``: the anchor as a reply."""
        del request
        try:
            anchor = await self.anchor()
        except (JournalError, ValueError) as err:
            return {"ok": False, "error": f"the anchor could not be recorded: {err}"}
        if anchor is None:
            return {"ok": False, "error": "the journal is empty: there is nothing to anchor"}
        return {
            "ok": True,
            "journal_seq": anchor.journal_seq,
            "head_seq": anchor.head_seq,
            "head_hash": anchor.head_hash,
            "at": format_received_at(anchor.at),
        }
