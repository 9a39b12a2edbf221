"""The alarm table's verdict when the response does not fit the alarm (issue 14): a guard
arrival stated before the alarm was received counts no response time, and cancelled and
false alarms say so instead of "no guard arrival". Exported from a real journal whose
cancel and false-alarm records come from the card rule itself, then verified."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.unit.evidence.journal_builder import REQUEST, T, alarm, anchor, at, response

from alarmrx.evidence import export, verify_bundle
from alarmrx.evidence.bundle import HTML_NAME, JSON_NAME
from alarmrx.evidence.incidents import INVALID_ARRIVAL
from alarmrx.journal import Journal, NewRecord
from alarmrx.rules.cards import CardCore
from alarmrx.rules.derived import new_record

NOW = T.replace(day=4)
PERIOD = replace(REQUEST, since=T, until=T.replace(hour=23))


async def build(path: Path) -> dict[str, int]:
    """Four alarms: a guard arrival stated 25.4 s before the first; the second cancelled by
    a contact, the third marked false, the fourth answered in time after an early mistake."""
    seqs: dict[str, int] = {}
    cards = CardCore({})
    async with await Journal.open(path, fsync=False) as journal:

        async def append(record: NewRecord) -> int:
            seq = (await journal.append(record)).journal_seq
            (stored,) = await journal.read_after(seq - 1, limit=1)
            for derived in cards.handle(stored):
                await journal.append(new_record(derived))
            return seq

        seqs["early"] = await append(alarm(0, zone=1))
        arrived = (at(0) - timedelta(seconds=25.4)).isoformat()
        seqs["early_guard"] = await append(
            response("guard_arrived", 1, journal_seq=seqs["early"], at=arrived)
        )
        seqs["cancelled"] = await append(alarm(10, zone=2))
        await append(response("cancel", 11, journal_seq=seqs["cancelled"], id_code="1001"))
        seqs["false"] = await append(alarm(20, zone=3))
        await append(response("mark_false", 40, journal_seq=seqs["false"], police_alerted=True))
        seqs["answered"] = await append(alarm(60, zone=4))
        seqs["typo"] = await append(
            response("guard_arrived", 61, journal_seq=seqs["answered"], at=at(59).isoformat())
        )
        seqs["guard"] = await append(response("guard_arrived", 70, journal_seq=seqs["answered"]))
        await anchor(journal, 75)
    return seqs


def rows(directory: Path) -> dict[int, dict[str, Any]]:
    data = json.loads((directory / JSON_NAME).read_text(encoding="utf-8"))
    return {row["journal_seq"]: row for row in data["alarms"]}


async def test_a_guard_arrival_before_the_alarm_gives_no_response_time(tmp_path: Path) -> None:
    seqs = await build(tmp_path / "journal.db")
    export(tmp_path / "journal.db", PERIOD, tmp_path / "bundle", now=NOW)
    row = rows(tmp_path / "bundle")[seqs["early"]]
    assert (row["guard_arrived"], row["response_s"]) == (None, None)
    assert row["verdict"] == INVALID_ARRIVAL == "invalid: guard arrival before alarm"
    [early] = row["guard_arrived_before_alarm"]
    assert early["journal_seq"] == seqs["early_guard"]
    assert early["at"] == "2025-03-03T20:59:34.600000+00:00"
    answered = rows(tmp_path / "bundle")[seqs["answered"]]  # a mistake, then the real arrival
    assert answered["guard_arrived"]["journal_seq"] == seqs["guard"]
    assert [m["journal_seq"] for m in answered["guard_arrived_before_alarm"]] == [seqs["typo"]]
    assert (answered["response_s"], answered["verdict"]) == (600.0, "within")
    assert verify_bundle(tmp_path / "bundle").alarms == 4  # the table is what records give
    page = (tmp_path / "bundle" / HTML_NAME).read_text(encoding="utf-8")
    assert '<td class="invalid">invalid: guard arrival before alarm</td>' in page
    assert "(before the alarm: not counted)" in page


async def test_cancelled_and_false_alarms_say_so(tmp_path: Path) -> None:
    seqs = await build(tmp_path / "journal.db")
    export(tmp_path / "journal.db", PERIOD, tmp_path / "bundle", now=NOW)
    table = rows(tmp_path / "bundle")
    cancelled, false = table[seqs["cancelled"]], table[seqs["false"]]
    assert (cancelled["verdict"], cancelled["marked_false"]) == ("cancelled", None)
    assert cancelled["cancelled"]["at"] == "2025-03-03T21:11:00.000000+00:00"
    assert "1001" in cancelled["cancelled"]["detail"]
    assert (false["verdict"], false["cancelled"]) == ("false alarm", None)
    assert false["marked_false"]["at"] == "2025-03-03T21:40:00.000000+00:00"
    proven = verify_bundle(tmp_path / "bundle")
    data = json.loads((tmp_path / "bundle" / JSON_NAME).read_text(encoding="utf-8"))
    carried = {r["journal_seq"] for r in data["records"]}
    assert {cancelled["cancelled"]["journal_seq"], false["marked_false"]["journal_seq"]} <= carried
    assert proven.alarms == 4
    page = (tmp_path / "bundle" / HTML_NAME).read_text(encoding="utf-8")
    assert '<td class="cancelled">cancelled</td>' in page
    assert '<td class="false-alarm">false alarm</td>' in page
    assert 'data-kind="cancelled"' in page and 'data-kind="marked_false"' in page
