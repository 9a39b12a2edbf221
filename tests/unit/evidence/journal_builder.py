"""A real journal file holding one burglary and its response, other accounts' records in
between, and anchors: what the evidence tests export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.unit.rules.records import command, event, message

from alarmrx.evidence import Parameters, Request
from alarmrx.evidence.anchor import anchor_record
from alarmrx.journal import Journal, NewRecord, RecordKind

T = datetime(2025, 3, 3, 21, 0, tzinfo=UTC)  # 22:00 in Copenhagen
ACCOUNT = "1234"
PARAMS = Parameters(
    timezone="Europe/Copenhagen",
    keybox_codes=("DG",),
    follow_up_s=3600.0,
    insurance_level=30,
    required_minutes=15.0,
)
REQUEST = Request(
    account=ACCOUNT,
    since=T - timedelta(hours=1),
    until=T + timedelta(hours=2),
    params=PARAMS,
    receiver_id="rx1",
    account_name="Bakery",
)


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def alarm(minutes: float, zone: int = 3) -> NewRecord:
    record = message(
        ACCOUNT,
        {**event("BA", "alarm", zone=zone, area=1), "description": "Burglary Alarm"},
        when=at(minutes),
    )
    record.body["panel_time"] = (at(minutes) - timedelta(seconds=4)).isoformat()
    return record


def user_event(code: str, category: str, minutes: float, user: int = 7) -> NewRecord:
    return message(ACCOUNT, {**event(code, category, area=1), "user": user}, when=at(minutes))


def response(action: str, minutes: float, **fields: Any) -> NewRecord:
    return command(ACCOUNT, at(minutes), action=action, **fields)


def verified(minutes: float, alarm_seq: int) -> NewRecord:
    body = {
        "type": "alarm.verified",
        "key": f"v{alarm_seq}",
        "code": "BV",
        "category": "alarm",
        "verified_by": "operator",
        "alarms": [{"journal_seq": alarm_seq, "index": 0}],
        "refs": [alarm_seq],
    }
    return NewRecord(
        kind=RecordKind.DERIVED, received_at=at(minutes), account=ACCOUNT, body=body, priority=3
    )


async def append(journal: Journal, record: NewRecord) -> int:
    return (await journal.append(record)).journal_seq


async def anchor(journal: Journal, minutes: float) -> int:
    head = (await journal.read_after(journal.last_seq - 1, limit=1))[0]
    return await append(journal, anchor_record(head.journal_seq, head.hash, at(minutes)))


async def build(path: Path, *, late_alarm: bool = False) -> dict[str, int]:
    """The journal; returns the journal_seq of its notable records."""
    seqs: dict[str, int] = {}
    async with await Journal.open(path, fsync=False) as journal:
        seqs["armed"] = await append(journal, user_event("CL", "close", -30))
        seqs["alarm"] = await append(journal, alarm(0))
        await append(journal, message("9999", event("BA", "alarm", zone=1), when=at(0.5)))
        seqs["verified"] = await append(journal, verified(1, seqs["alarm"]))
        seqs["alerted"] = await append(
            journal, response("alerted", 2, journal_seq=seqs["alarm"], who="Guard company")
        )
        seqs["anchor1"] = await anchor(journal, 5)
        seqs["guard"] = await append(
            journal, response("guard_arrived", 20, note="car 12", at=at(11).isoformat())
        )
        seqs["keybox"] = await append(journal, user_event("DG", "access", 12))
        await append(journal, message("9999", event("OP", "open", area=1), when=at(12.5)))
        seqs["disarmed"] = await append(journal, user_event("OP", "open", 13))
        seqs["anchor2"] = await anchor(journal, 15)
        if late_alarm:
            seqs["late_alarm"] = await append(journal, alarm(60, zone=4))
    return seqs
