"""The evidence reads a bundle's records through the journal's typed bodies
(``alarmrx.journal.bodies``): a derived type this version does not know, and records
without their optional fields, still export and verify, and what they do hold still
counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.evidence.journal_builder import ACCOUNT, REQUEST, T, anchor, append, at

from alarmrx.evidence import export, verify_bundle
from alarmrx.evidence.bundle import JSON_NAME
from alarmrx.journal import Journal, NewRecord, RecordKind


def record(kind: RecordKind, minutes: float, body: dict[str, Any]) -> NewRecord:
    return NewRecord(kind=kind, received_at=at(minutes), account=ACCOUNT, body=body)


async def build(path: Path) -> dict[str, int]:
    """An alarm with nothing but its code and category, a derived record of an unknown type
    naming it, an ``alarm.cancelled`` without a description and a bare guard arrival."""
    seqs: dict[str, int] = {}
    async with await Journal.open(path, fsync=False) as journal:
        bare = {"events": [{"code": "BA", "category": "alarm"}]}
        seqs["alarm"] = await append(journal, record(RecordKind.MESSAGE, 0, bare))
        future = {"type": "alarm.reviewed", "alarm_seq": seqs["alarm"], "by": {"x": [1]}}
        seqs["unknown"] = await append(journal, record(RecordKind.DERIVED, 1, future))
        seqs["untyped"] = await append(journal, record(RecordKind.DERIVED, 1.5, {"refs": [1]}))
        cancelled = {"type": "alarm.cancelled", "alarm_seq": seqs["alarm"]}
        seqs["cancelled"] = await append(journal, record(RecordKind.DERIVED, 2, cancelled))
        guard = {"action": "guard_arrived", "accepted": True}
        seqs["guard"] = await append(journal, record(RecordKind.COMMAND, 9, guard))
        await anchor(journal, 15)
    return seqs


async def test_unknown_types_and_missing_fields_still_read(tmp_path: Path) -> None:
    seqs = await build(tmp_path / "journal.db")
    done = export(tmp_path / "journal.db", REQUEST, tmp_path / "bundle", now=T.replace(day=4))
    assert done.alarms == 1
    data = json.loads((tmp_path / "bundle" / JSON_NAME).read_text(encoding="utf-8"))
    carried = {r["journal_seq"] for r in data["records"]}
    assert {seqs["unknown"], seqs["untyped"]} <= carried  # carried in the chain, not dropped
    (row,) = data["alarms"]
    assert (row["code"], row["description"], row["zone"], row["area"]) == ("BA", "", None, None)
    assert row["panel_time"] is None and row["verified"] is None
    assert row["cancelled"] == {
        "at": "2025-03-03T21:02:00.000000+00:00",
        "journal_seq": seqs["cancelled"],
        "detail": None,
    }
    assert row["guard_arrived"]["journal_seq"] == seqs["guard"]
    assert row["guard_arrived"]["detail"] is None
    assert row["response_s"] == 540.0
    proven = verify_bundle(tmp_path / "bundle")
    assert (proven.alarms, proven.unanchored) == (1, ())
