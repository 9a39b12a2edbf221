"""The daemon's anchoring on request (``alarmrx anchor``): the control socket's reply, an
anchor that names the head, and no second anchor while nothing came after the last."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.unit.journal.builders import T0, message

from alarmrx.evidence.anchorer import Anchorer
from alarmrx.journal import Journal, RecordKind, query


async def test_anchor_on_request(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    ticks = iter(T0 + timedelta(minutes=n) for n in range(10))
    async with await Journal.open(path, fsync=False) as journal:
        anchorer = Anchorer(journal, lambda: next(ticks))
        empty = await anchorer.request({"action": "anchor"})
        assert empty == {"ok": False, "error": "the journal is empty: there is nothing to anchor"}
        await journal.append_many([message(n) for n in range(1, 4)])
        head = (await journal.read_after(2, limit=1))[0]
        reply = await anchorer.request({"action": "anchor"})
        assert reply == {
            "ok": True,
            "journal_seq": 4,
            "head_seq": 3,
            "head_hash": head.hash,
            "at": "2025-03-01T12:00:00.000000+00:00",
        }
        assert await anchorer.request({"action": "anchor"}) == reply  # nothing new since
        await journal.append(message(5))
        again = await anchorer.request({"action": "anchor"})
        assert (again["journal_seq"], again["head_seq"]) == (6, 5)
    anchors = [r for r in query(path) if r.kind is RecordKind.ANCHOR]
    assert [(r.journal_seq, r.body["head_seq"]) for r in anchors] == [(4, 3), (6, 5)]
